"""The schedules of prefect.yaml, as make serve and prefect deploy read them."""

import importlib

from core.deployments import read_deployments
from tests.paths import PROJECT_ROOT


def test_prefect_yaml_declares_the_three_schedules():
    specs = {spec.name: spec for spec in read_deployments(PROJECT_ROOT / "prefect.yaml")}
    assert set(specs) == {"ingest-hourly", "train-weekly", "score-nightly"}
    assert specs["score-nightly"].crons == ("0 2 * * *",)
    assert specs["score-nightly"].concurrency_limit == 1
    assert specs["ingest-hourly"].crons == ("0 * * * *",)
    assert specs["train-weekly"].crons == ("0 3 * * 0",)


def test_every_entrypoint_is_a_prefect_flow():
    for spec in read_deployments(PROJECT_ROOT / "prefect.yaml"):
        flow_object = getattr(importlib.import_module(spec.module), spec.flow_name)
        assert hasattr(flow_object, "to_deployment"), spec.name
