"""prefect.yaml's deployments as ``revenue dev`` serves them, and the landing trigger matching
the events the watcher sends (no server needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.landing_watcher import landed_event
from flows.served import DeploymentSpecError, deployment_specs, runner_deployments
from revenue.io.landing.versions import LandedVersion


def test_placeholders_of_the_environment_are_filled_and_the_servers_own_are_kept():
    specs = {s["name"]: s for s in deployment_specs({"REVENUE_ENV": "staging"})}
    assert set(specs) == {"daily", "on-landing", "range"}
    assert all(s["parameters"]["env"] == "staging" for s in specs.values())
    [trigger] = specs["on-landing"]["triggers"]
    assert trigger["parameters"] == {"landed_key": "{{ event.resource.id }}", "env": "staging"}


def test_a_variable_without_a_value_is_an_error_naming_it(tmp_path: Path):
    spec = tmp_path / "prefect.yaml"
    spec.write_text("deployments:\n  - name: x\n    parameters:\n      bucket: '{{ $LANDING_BUCKET }}'\n")
    with pytest.raises(DeploymentSpecError, match=r"deployment 'x': no value for \{\{ \$LANDING_BUCKET \}\}"):
        deployment_specs({"REVENUE_ENV": "dev"}, spec)


def test_served_deployments_keep_the_cron_and_the_trigger_matches_the_watchers_events():
    deployments = {d.name: d for d in runner_deployments("local")}
    assert {(d.flow_name, d.name) for d in deployments.values()} == {
        ("daily-revenue", "daily"),
        ("daily-revenue", "on-landing"),
        ("backfill", "range"),
    }
    [schedule] = deployments["daily"].schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 6 * * *", "UTC")
    [trigger] = deployments["on-landing"].triggers
    assert trigger.expect == {"revenue.file.landed"}

    landed = LandedVersion(3, "/data/landing/orders.csv", "orders.csv", "abc", 120)
    ours = landed_event(landed, "local")
    theirs = landed_event(landed, "prod")
    assert trigger.match.matches(ours.resource)
    assert not trigger.match.matches(theirs.resource)  # another environment's files start nothing here
    assert ours.resource.id == "/data/landing/orders.csv"  # what landed_key receives
