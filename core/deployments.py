"""The deployments declared in prefect.yaml, as plain data (one source of truth for schedules)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class DeploymentSpec:
    """One scheduled flow: where it lives, when it runs, how many at once."""

    name: str
    module: str
    flow_name: str
    crons: tuple[str, ...]
    timezone: str
    concurrency_limit: int | None


def read_deployments(path: Path) -> list[DeploymentSpec]:
    """Parse prefect.yaml's deployments."""
    spec = yaml.safe_load(path.read_text())
    return [_deployment(entry) for entry in spec.get("deployments", [])]


def _deployment(entry: dict) -> DeploymentSpec:
    file_path, flow_name = entry["entrypoint"].split(":")
    schedules = entry.get("schedules", [])
    return DeploymentSpec(
        name=entry["name"],
        module=file_path.removesuffix(".py").replace("/", "."),
        flow_name=flow_name,
        crons=tuple(s["cron"] for s in schedules),
        timezone=schedules[0].get("timezone", "UTC") if schedules else "UTC",
        concurrency_limit=entry.get("concurrency_limit"),
    )
