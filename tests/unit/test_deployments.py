"""The main job serves the deployments prefect.yaml declares: same names and flows."""

from __future__ import annotations

from prefect import Flow

from app.deployments import SERVED_NOTE, deployment_specs, load_flow


def test_served_deployments_are_the_ones_prefect_yaml_declares():
    specs = deployment_specs()
    assert [s.name for s in specs] == ["case-intake", "case-import", "due-sweep", "cadre-digest",
                                       "supervisor-digest", "monthly-statistics", "ledger-export"]
    for spec in specs:
        flow = load_flow(spec.entrypoint)
        assert isinstance(flow, Flow) and flow.name == spec.name
        assert spec.description and "\n" not in spec.description
    assert "Run" in SERVED_NOTE
