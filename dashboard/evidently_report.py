"""An Evidently report rendered from a stored snapshot, in a frame of the page (shared by the Drift and Model pages)."""

from __future__ import annotations

import streamlit as st

REPORT_HEIGHT = 900


def show_snapshot(snapshot: str, name: str, unaffected: str) -> None:
    """Render the snapshot; a failure is one warning naming the report (`name`) and what stays valid."""
    try:
        from core.drift import render_report_html  # imports Evidently (~4 s): only when a report is asked for

        with st.spinner("Rendering the Evidently report..."):
            html = render_report_html(snapshot)
    except Exception as error:  # noqa: BLE001 - any failure here means the same thing to the reader
        st.warning(f"The {name} could not be rendered from the stored snapshot "
                   f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else 'no detail'}). "
                   f"{unaffected}", icon=":material/report:")
        return
    # st.iframe replaces st.components.v1.html (deprecated in Streamlit 1.67); the HTML is Evidently's own
    # rendering of a snapshot the pipeline stored, never text typed by a user.
    st.iframe(html, height=REPORT_HEIGHT)
