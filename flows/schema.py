"""Schema tools: `python -m flows.schema draft FILE.csv --label COLUMN [--id COLUMN] [--created COLUMN]`.

A file tool, not a Prefect flow: it reads one CSV and prints a draft lead schema (YAML) for a person to edit,
touching no database or model, so it starts without Prefect's temporary server.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    """Print the draft schema on stdout; exit 2 with one line on bad input."""
    args = _parser().parse_args(argv)
    from core.errors import BadInputError  # imported after parsing: --help stays instant
    from core.schema_draft import DraftRequest, draft_schema

    try:
        text = draft_schema(DraftRequest(path=args.file, label=args.label, id_column=args.id, created=args.created))
    except BadInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m flows.schema", description="Lead schema tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    draft = commands.add_parser("draft", help="print a draft schema (YAML) inferred from a lead CSV")
    draft.add_argument("file", type=Path, help="a lead file (CSV, UTF-8)")
    draft.add_argument("--label", required=True, help="the outcome column")
    draft.add_argument("--id", help="the column that identifies a lead (optional)")
    draft.add_argument("--created", help="the column with the lead's creation time (optional)")
    return parser


if __name__ == "__main__":
    sys.exit(main())
