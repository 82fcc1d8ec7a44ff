"""Streamlit app: layout only; every SQL statement lives in dashboard.queries."""
