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


# What a deployment may be asked for: ids, times, and what a ledger export covers. Never a
# person's data and never a password (an encrypted export stays in the CLI and the board).
PARAMETERS = {"case_id", "import_id", "as_of"}
EXPORT_PARAMETERS = {"form", "under", "out", "first", "last"}


def test_every_deployment_points_at_a_flow_with_id_or_time_parameters_only():
    config = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    names = {d["name"]: d for d in config["deployments"]}
    assert set(names) == {"case-intake", "case-import", "due-sweep", "cadre-digest",
                          "supervisor-digest", "monthly-statistics", "ledger-export"}
    for deployment in config["deployments"]:
        flow = load_entrypoint(deployment["entrypoint"])
        assert isinstance(flow, Flow)
        assert flow.name == deployment["name"]
        assert deployment["work_pool"]["name"] == "weiquan"
        parameters = set(inspect.signature(flow.fn).parameters)
        allowed = EXPORT_PARAMETERS if deployment["name"] == "ledger-export" else PARAMETERS
        assert parameters <= allowed, parameters
        assert not any("password" in name for name in parameters)


def test_scheduled_deployments_run_in_shanghai_time_and_the_digests_at_0830():
    config = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    schedules = {d["name"]: d.get("schedules", []) for d in config["deployments"]}
    assert schedules["case-intake"] == []  # started per case, by the service
    assert schedules["case-import"] == []  # started per import, by the service
    assert schedules["cadre-digest"] == [{"cron": "30 8 * * *", "timezone": "Asia/Shanghai"}]
    # cron cannot know make-up workdays: the flow checks "first working day of the week"
    assert schedules["supervisor-digest"] == [{"cron": "30 8 * * 1-6", "timezone": "Asia/Shanghai"}]
    # the flow checks "first working day of the month": at the latest the 9th (National Day)
    assert schedules["monthly-statistics"] == [{"cron": "30 8 1-10 * *", "timezone": "Asia/Shanghai"}]
    assert schedules["ledger-export"] == []  # run on demand, from the UI or `prefect deployment run`
    assert all(s["timezone"] == "Asia/Shanghai" for d in schedules.values() for s in d)


def test_a_worker_runs_from_the_checkout():
    config = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    (step,) = config["pull"]
    assert "prefect.deployments.steps.set_working_directory" in step


def test_one_due_sweep_at_a_time_across_workers_and_a_colliding_one_is_cancelled():
    config = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    limits = {d["name"]: d.get("concurrency_limit") for d in config["deployments"]}
    assert limits["due-sweep"] == {"limit": 1, "collision_strategy": "CANCEL_NEW"}
    # Case and import flows run side by side: each is its own case or import.
    assert limits["case-intake"] is None and limits["case-import"] is None


def test_prefect_deploy_reads_the_sweep_limit_as_a_deployment_concurrency_limit():
    # The shape prefect's own deploy command accepts (prefect/cli/deploy/_models.py); a typo
    # in a key would be ignored silently there, so check it against prefect's model.
    from prefect.cli.deploy._models import ConcurrencyLimitSpec
    from prefect.client.schemas.objects import ConcurrencyLimitStrategy

    config = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    (sweep,) = [d for d in config["deployments"] if d["name"] == "due-sweep"]
    spec = ConcurrencyLimitSpec.model_validate(sweep["concurrency_limit"])
    assert spec.model_dump(exclude_none=True) == sweep["concurrency_limit"]
    assert ConcurrencyLimitStrategy(spec.collision_strategy) is ConcurrencyLimitStrategy.CANCEL_NEW
