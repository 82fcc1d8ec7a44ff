"""Where the shared real data lives (read in place, never copied)."""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _shared_data() -> Path:
    configured = os.environ.get("LEADSCORE_SHARED_DATA")
    if configured:
        return Path(configured)
    beside = PROJECT_ROOT.parent / "shared" / "data"
    return beside if beside.exists() else Path("/work/shared/data")


SHARED_DATA = _shared_data()
