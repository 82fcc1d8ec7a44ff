"""Entry point: `streamlit run dashboard/app.py`. One app, pages grouped by who reads them."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run` puts dashboard/ on the path, not the project root
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402
from sqlalchemy.exc import SQLAlchemyError  # noqa: E402

from core.clock import TimeZoneError, zone_name  # noqa: E402
from core.errors import BadInputError  # noqa: E402
from dashboard import db  # noqa: E402


def pages() -> dict[str, list]:
    """Sales pages first (the default is the rep's lead list), then the data team's."""
    return {
        "Sales": [
            st.Page("views/leads.py", title="Leads", icon=":material/call:", url_path="leads", default=True),
            st.Page("views/channels.py", title="Channels", icon=":material/campaign:", url_path="channels"),
        ],
        "Data team": [
            st.Page("views/model.py", title="Model", icon=":material/model_training:", url_path="model"),
            st.Page("views/drift.py", title="Drift", icon=":material/ssid_chart:", url_path="drift"),
            st.Page("views/pipeline.py", title="Pipeline health", icon=":material/monitor_heart:",
                    url_path="pipeline"),
        ],
    }


def database_problem(error: SQLAlchemyError) -> str:
    """One line a newcomer can act on, instead of a traceback."""
    cause = str(getattr(error, "orig", None) or error).strip().splitlines()
    return (f"Could not read the database at `{db.shown_url(db.database_url())}`: "
            f"{type(error).__name__}: {cause[0] if cause else 'no detail'}. "
            "Check `LEADSCORE_DATABASE_URL` (or `LEADSCORE_DASHBOARD_DATABASE_URL`), or run `make demo`.")


def main() -> None:
    """Navigation, the database in use, and the chosen page with database failures shown in one line."""
    st.set_page_config(page_title="Lead scoring", page_icon=":material/leaderboard:", layout="wide")
    page = st.navigation(pages())
    st.sidebar.caption(f"Database: `{db.shown_url(db.database_url())}`")
    try:
        st.sidebar.caption(f"Times in `{zone_name()}` (LEADSCORE_TIMEZONE); stored in UTC")
        page.run()
    except SQLAlchemyError as error:
        st.error(database_problem(error), icon=":material/database:")
    except TimeZoneError as error:  # LEADSCORE_TIMEZONE is not a zone: its one-line reason
        st.error(f"Time zone problem: {error}", icon=":material/schedule:")
    except BadInputError as error:  # a lead schema that cannot be read: its one-line reason
        st.error(f"Lead schema problem: {error}", icon=":material/schema:")


main()
