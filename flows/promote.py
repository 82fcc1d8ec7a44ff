"""Manual promotion: python -m flows.promote VERSION --reason "..." (moves the champion alias, records why)."""

from __future__ import annotations

import argparse

from core.config import load_settings
from core.registry import promote
from flows.cli import exit_promptly, run_command


def promote_version(version: str, reason: str) -> None:
    """Make VERSION the champion; the reason is kept as a version tag and in model_versions."""
    settings = load_settings()
    promote(settings, version, reason)
    print(f"{settings.model_name} version {version} is now the champion ({reason})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.promote", description=__doc__)
    parser.add_argument("version", help="registered model version, e.g. 3")
    parser.add_argument("--reason", required=True, help="why this version should score (recorded)")
    args = parser.parse_args(argv)
    return run_command(lambda: promote_version(args.version, args.reason))


if __name__ == "__main__":
    exit_promptly(main())
