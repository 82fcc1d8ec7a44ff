"""Pure domain logic of the lead-scoring platform (no Prefect, no Streamlit)."""
