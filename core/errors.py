"""Errors that reach a user as one clear line."""


class BadInputError(ValueError):
    """Input the platform refuses whole (missing file, not CSV, missing columns, too few labels)."""


class NoChampionError(RuntimeError):
    """Scoring was asked for but no model carries the champion alias yet."""


class RegistryUnavailableError(RuntimeError):
    """The MLflow store did not answer (refused, timed out, server error): an outage, never "no champion"."""
