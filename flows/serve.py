"""Run the schedules of prefect.yaml on this machine: python -m flows.serve (needs a Prefect server)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from prefect import serve
from prefect.schedules import Cron

from core.deployments import DeploymentSpec, read_deployments

PREFECT_YAML = Path(__file__).resolve().parents[1] / "prefect.yaml"


def runner_deployment(spec: DeploymentSpec):
    """A served deployment for one spec of prefect.yaml."""
    flow_object = getattr(importlib.import_module(spec.module), spec.flow_name)
    return flow_object.to_deployment(
        name=spec.name,
        schedules=[Cron(cron, timezone=spec.timezone) for cron in spec.crons],
        concurrency_limit=spec.concurrency_limit,
    )


def main() -> int:
    deployments = [runner_deployment(spec) for spec in read_deployments(PREFECT_YAML)]
    serve(*deployments)
    return 0


if __name__ == "__main__":
    sys.exit(main())
