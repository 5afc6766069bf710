"""Landing keys on the embedded default (a local landing directory, SQLite, Prefect's engine):

- a file whose name has a space goes the whole way: the watcher's event, its resource id
  rendered into the on-landing trigger's ``landed_key`` by Prefect's own parameter
  rendering, and the run it starts, which publishes the day (it used to fail with
  ``my%2520orders.csv: no such object``);
- a symbolic link in the landing directory pointing outside it is skipped by the watcher:
  nothing outside is read, the runs of days publish and the status works, even with the link
  registered by an earlier version (it used to be registered, stay ``pending`` and fail every
  run)."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
from decimal import Decimal
from pathlib import Path

from prefect.server.events.actions import RunDeployment
from prefect.utilities.schema_tools.hydration import HydrationContext, hydrate

from flows.daily_revenue import daily_revenue
from flows.landing_watcher import landed_event, watch_pass
from flows.served import runner_deployments
from revenue.io.environment import environment
from revenue.io.landing.listing import watch_once
from revenue.io.landing.zone import LandedFile
from revenue.status import current_statuses
from tests.integration.helpers import published, seed_orders

DAY = dt.date(2026, 3, 5)
CSV = "order_id,customer_id,amount,order_date\n{id},c,{amount},2026-03-05T10:00:00Z\n"


def trigger_parameters(config: str, event) -> dict:
    """The parameters the on-landing deployment's trigger gives the run it starts for
    ``event``, rendered as Prefect's ``RunDeployment`` action renders them."""
    [trigger] = {d.name: d for d in runner_deployments(config)}["on-landing"].triggers
    parameters = copy.deepcopy(trigger.parameters)
    RunDeployment._upgrade_v1_templates(parameters)
    return hydrate(parameters, HydrationContext(raise_on_error=True, render_jinja=True, jinja_context={"event": event}))


def test_a_local_file_named_with_a_space_is_run_from_its_event(sqlite_env):
    seed_orders(sqlite_env, [])
    env = environment(sqlite_env)
    env.landing.put("my orders.csv", CSV.format(id=1, amount="12.34").encode())
    [version] = watch_once(env.registry)
    assert version.key == "my orders.csv"

    parameters = trigger_parameters(sqlite_env, landed_event(version, sqlite_env))
    assert parameters["landed_key"] == version.uri  # the resource id, as the watcher sent it

    state = daily_revenue(**parameters, return_state=True)
    assert state.is_completed(), state.message
    assert published(sqlite_env, "daily_revenue", DAY)["revenue"].tolist() == [Decimal("12.34")]
    assert [v.seq for v in env.registry.unannounced()] == [version.seq]  # the run found the watcher's landing


def test_a_symlink_out_of_the_landing_directory_is_skipped_and_days_still_run(sqlite_env, tmp_path: Path, caplog):
    seed_orders(sqlite_env, [(5, "s", 5.00, "2026-03-06 09:00:00")])
    env = environment(sqlite_env)
    outside = tmp_path / "outside.csv"
    outside.write_text(CSV.format(id=9, amount="999.00"))
    (env.landing.root / "evil.csv").symlink_to(outside)
    env.landing.put("good.csv", CSV.format(id=1, amount="1.00").encode())

    announced = watch_pass(sqlite_env)
    assert announced == [env.landing.uri("good.csv")]  # the link is not registered
    assert "evil.csv" in caplog.text and "symbolic link" in caplog.text
    assert env.registry.warehouse.read_table("landing_registry")["key"].tolist() == ["good.csv"]
    assert watch_pass(sqlite_env) == []
    # the link as an earlier version registered it (it stayed ``pending`` and failed every run)
    link = env.registry.register(
        LandedFile(env.landing.uri("evil.csv"), "evil.csv", hashlib.md5(outside.read_bytes()).hexdigest(), 30),
        by="earlier watcher",
    )

    state = daily_revenue(partition_date=DAY.isoformat(), env=sqlite_env, return_state=True)
    assert state.is_completed(), state.message
    assert published(sqlite_env, "daily_revenue", DAY)["revenue"].tolist() == [Decimal("1.00")]  # nothing from outside
    other = daily_revenue(partition_date="2026-03-06", env=sqlite_env, return_state=True)
    assert other.is_completed(), other.message
    [status] = current_statuses(env, [DAY])
    assert status.state == "materialized"
    registry = env.registry.warehouse.read_table("landing_registry").set_index("seq")
    assert registry.loc[link.seq, "read_status"] == "unreadable"  # not left pending


def test_a_file_its_own_run_registered_first_is_not_announced_again(sqlite_env):
    """A file announced without the watcher (the Cloud webhook's event) is registered by the
    run that event started; a watcher running beside the webhook lists it later and must not
    announce it a second time (a second run of the same file)."""
    seed_orders(sqlite_env, [])
    env = environment(sqlite_env)
    env.landing.put("pushed.csv", CSV.format(id=2, amount="5.00").encode())
    state = daily_revenue(env=sqlite_env, landed_key="pushed.csv", return_state=True)
    assert state.is_completed(), state.message
    assert watch_pass(sqlite_env) == []
    assert env.registry.unannounced() == []


def test_a_version_a_run_finds_replacing_its_file_is_still_announced(sqlite_env):
    """A run that finds its file replaced registers the new version and re-plans only its
    own day: the new version's other days need its event, so it stays for the watcher to
    announce (only a run's own file, ``landed_file``, is registered as announced)."""
    import pytest

    from revenue.errors import InputSuperseded

    seed_orders(sqlite_env, [])
    env = environment(sqlite_env)
    env.landing.put("replaced.csv", CSV.format(id=3, amount="1.00").encode())
    [first] = watch_once(env.registry)
    env.registry.read_pending()
    env.registry.mark_announced(first)
    env.landing.put("replaced.csv", CSV.format(id=3, amount="2.00").replace("2026-03-05", "2026-03-06").encode())
    with pytest.raises(InputSuperseded):
        env.registry.rows_for(first, DAY)
    [second] = env.registry.unannounced()
    assert second.uri == first.uri and second.seq > first.seq
