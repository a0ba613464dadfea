"""prefect.yaml names flows that exist, with the parameters they take."""

from __future__ import annotations

import importlib.util
import inspect

import yaml
from prefect import Flow

from tests.conftest import REPO


def load_entrypoint(entrypoint: str) -> Flow:
    path, name = entrypoint.split(":")
    module_name = path.removesuffix(".py").replace("/", ".")
    module = importlib.import_module(module_name)
    assert importlib.util.find_spec(module_name) is not None
    return getattr(module, name)


def test_every_deployment_points_at_a_flow_with_id_or_time_parameters_only():
    config = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    names = {d["name"]: d for d in config["deployments"]}
    assert set(names) == {"case-intake", "due-sweep"}
    for deployment in config["deployments"]:
        flow = load_entrypoint(deployment["entrypoint"])
        assert isinstance(flow, Flow)
        assert flow.name == deployment["name"]
        assert deployment["work_pool"]["name"] == "weiquan"
        parameters = set(inspect.signature(flow.fn).parameters)
        assert parameters <= {"case_id", "as_of"}, parameters
