"""Thin Prefect flows: load -> call core -> save. Each module runs with python -m flows.NAME."""
