"""Healing through the real parts: the warehouse's ``heal_requests`` on Postgres and SQLite,
Prefect's API (the ``daily`` and ``range`` deployments exist; nothing serves them, so a run
started is seen Scheduled with its name, tags and parameters), and the engine for the runs
that compute. The clock is passed in (``now``), so the settle time and the deadline are
tested without waiting for them."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName, FlowRunFilter, FlowRunFilterTags

from flows.backfill import backfill
from flows.daily_revenue import daily_revenue
from flows.healing import heal, heal_policy, switch_variable
from revenue.healing import RESTART_AFTER, HealPolicy
from revenue.io import heal_log
from revenue.io.environment import environment
from revenue.status import current_statuses
from tests.integration.helpers import seed_orders

UTC = dt.timezone.utc
NOW = dt.datetime.now(UTC).replace(microsecond=0) - dt.timedelta(minutes=10)
"""The passes' clock: near the real one, which the grid's "healing" display reads."""
DAY = NOW.date() - dt.timedelta(days=40)
SETTLE = dt.timedelta(seconds=60)
ON = HealPolicy(enabled=True, settle=SETTLE, horizon_days=56)


def day(n: int) -> dt.date:
    return DAY + dt.timedelta(days=n)


def orders(first_id: int, days: list[dt.date], per_day: int = 2) -> list[tuple]:
    return [
        (first_id + 10 * i + k, f"c{k}", 10.0 + k, f"{d} 0{k + 1}:00:00")
        for i, d in enumerate(days)
        for k in range(per_day)
    ]


@pytest.fixture(scope="module")
def deployments() -> Iterator[None]:
    """``daily-revenue/daily`` and ``backfill/range`` on the harness, served by nothing."""
    from flows.served import runner_deployments

    for deployment in runner_deployments("local"):
        if deployment.name in ("daily", "range"):
            deployment.apply()
    yield


@pytest.fixture(params=["sqlite_env", "pg_env"])
def config(request, deployments) -> str:
    return request.getfixturevalue(request.param)


@pytest.fixture(autouse=True)
def test_started() -> Iterator[None]:
    """When this test started: environments are lent again under the same names, so the
    runs of an earlier test are told apart by their creation time."""
    global STARTED, NOW
    STARTED = dt.datetime.now(UTC)
    NOW = STARTED.replace(microsecond=0) - dt.timedelta(minutes=10)  # near the real clock for every test
    yield


STARTED = dt.datetime.now(UTC)


def heal_runs_of(config: str) -> list:
    """The heal runs this test started for ``config`` (by their parameters), oldest first."""
    only = DeploymentFilter(name=DeploymentFilterName(any_=["daily", "range"]))
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=["heal"])), limit=200)
        names = {d.id: d.name for d in client.read_deployments(deployment_filter=only)}
    found = [r for r in runs if r.parameters.get("env") == config and r.created and r.created >= STARTED]
    return [
        SimpleNamespace(**r.model_dump(), deployment_name=names.get(r.deployment_id))
        for r in sorted(found, key=lambda r: r.created)
    ]


def publish(config: str, days: list[dt.date]) -> None:
    state = backfill(start=str(min(days)), end=str(max(days)), env=config, return_state=True)
    assert state.is_completed(), state.message


def add_late_rows(config: str, rows: list[tuple]) -> None:
    seed_orders(config, rows, replace=False)


def pass_at(config: str, now: dt.datetime, policy: HealPolicy = ON, days: list[dt.date] | None = None) -> list:
    """One watcher heal pass at ``now`` over the days given (default: the first week)."""
    env = environment(config)
    statuses = current_statuses(env, days or [day(n) for n in range(7)])
    return heal(config, env, statuses, policy, now)


def test_late_rows_heal_once_after_the_settle_time_and_a_new_change_waits_again(config):
    seed_orders(config, orders(1, [day(0), day(1)]))
    publish(config, [day(0), day(1)])
    add_late_rows(config, [(500, "late", 7.5, f"{day(0)} 23:00:00")])

    assert pass_at(config, NOW) == []  # seen now: not settled
    assert pass_at(config, NOW + SETTLE - dt.timedelta(seconds=1)) == []
    assert heal_runs_of(config) == []
    add_late_rows(config, [(501, "later", 2.5, f"{day(0)} 23:30:00")])  # still loading: the wait starts again
    assert pass_at(config, NOW + SETTLE) == []
    assert heal_runs_of(config) == []

    [started] = pass_at(config, NOW + 2 * SETTLE)
    assert started.name == f"heal-{day(0)}" and started.days == [day(0)]
    [run] = heal_runs_of(config)
    assert run.name == f"heal-{day(0)}" and "heal" in run.tags and run.deployment_name == "daily"
    assert run.parameters == {"partition_date": str(day(0)), "env": config}
    assert run.idempotency_key == started.key

    # later passes, a restart and a second watcher start nothing new for this input
    assert pass_at(config, NOW + 3 * SETTLE) == []
    assert pass_at(config, NOW + 3 * SETTLE + RESTART_AFTER) == []
    assert len(heal_runs_of(config)) == 1

    [status] = current_statuses(environment(config), [day(0)])
    assert status.state == "running" and status.detail == "source rows changed -> healing"
    assert status.run_id == str(run.id)


def test_many_days_at_once_are_one_backfill_run_over_exactly_those_days(config):
    days = [day(n) for n in range(6)]
    seed_orders(config, orders(1, days))
    publish(config, days)
    late = [day(0), day(2), day(3), day(5)]  # day(1) and day(4) stay current
    add_late_rows(config, [(900 + n, "late", 1.0, f"{d} 22:00:00") for n, d in enumerate(late)])

    pass_at(config, NOW)
    [started] = pass_at(config, NOW + SETTLE)
    [run] = heal_runs_of(config)
    assert run.name == f"heal-{day(0)}..{day(5)}" and run.deployment_name == "range"
    assert run.parameters["days"] == [str(d) for d in late]
    assert (run.parameters["start"], run.parameters["end"]) == (str(day(0)), str(day(5)))
    assert started.key == run.idempotency_key

    # the run those parameters make computes exactly those days
    state = backfill(**run.parameters, return_state=True)
    assert state.is_completed(), state.message
    assert sorted(o.partition for o in state.result()) == [str(d) for d in late]
    statuses = {s.partition: s.state for s in current_statuses(environment(config), days)}
    assert set(statuses.values()) == {"materialized"}


def test_a_missed_cron_day_is_caught_up_after_its_deadline_and_an_empty_day_never(config):
    seed_orders(config, orders(1, [day(0), day(2)]))  # day(1) has no order
    policy = HealPolicy(enabled=True, settle=SETTLE, horizon_days=56, deadline="07:30")
    before_deadline = dt.datetime.combine(day(3), dt.time(7, 0), tzinfo=UTC)  # day(2) is due at 07:30

    pass_at(config, before_deadline - SETTLE, policy, [day(0), day(1), day(2)])
    [started] = pass_at(config, before_deadline, policy, [day(0), day(1), day(2)])
    assert started.days == [day(0)]  # day(2) is not due yet, day(1) has nothing to compute
    after = before_deadline + dt.timedelta(hours=1)
    pass_at(config, after, policy, [day(0), day(1), day(2)])
    [caught_up] = pass_at(config, after + SETTLE, policy, [day(0), day(1), day(2)])
    assert caught_up.days == [day(2)]
    claims = heal_log.latest_claims(environment(config).warehouse, [day(0), day(2)])
    reasons = {r.partition: r.reason for r in claims.values()}
    assert reasons == {day(0): "never published", day(2): "never published"}


def test_days_beyond_the_horizon_are_shown_stale_not_healed(config):
    old, recent = day(0), day(20)
    seed_orders(config, orders(1, [old, recent]))
    publish(config, [old])
    publish(config, [recent])
    add_late_rows(config, [(700, "late", 3.0, f"{old} 22:00:00"), (701, "late", 4.0, f"{recent} 22:00:00")])
    now = dt.datetime.combine(recent + dt.timedelta(days=5), dt.time(12), tzinfo=UTC)
    policy = HealPolicy(enabled=True, settle=SETTLE, horizon_days=10)  # recent is 5 days back, old 25

    pass_at(config, now, policy, [old, recent])
    [started] = pass_at(config, now + SETTLE, policy, [old, recent])
    assert started.days == [recent]
    [status] = current_statuses(environment(config), [old])
    assert status.state == "stale" and status.detail == "source rows changed"


def test_a_failed_day_is_not_healed_on_the_input_it_failed_on_only_when_that_changes(sqlite_env, deployments):
    config = sqlite_env
    invalid = [(None, "alice", 10.0, f"{DAY} 01:00:00"), (3, None, 20.0, f"{DAY} 02:00:00")]
    seed_orders(config, invalid)
    state = daily_revenue(partition_date=str(DAY), env=config, return_state=True)
    assert state.is_failed()

    pass_at(config, NOW)
    assert pass_at(config, NOW + SETTLE) == []  # failed on this input: a heal would fail the same way
    add_late_rows(config, [(4, "carol", 5.0, f"{DAY} 03:00:00")])
    pass_at(config, NOW + 2 * SETTLE)
    [started] = pass_at(config, NOW + 3 * SETTLE)
    assert started.days == [DAY]
    [claim] = heal_log.latest_claims(environment(config).warehouse, [DAY]).values()
    assert claim.reason == "input changed since it failed"


def test_the_switch_variable_overrides_the_block_and_the_watchers_default(sqlite_env):
    from prefect.variables import Variable

    env = environment(sqlite_env)
    assert heal_policy(sqlite_env, env).enabled is False  # the block's default: off
    assert heal_policy(sqlite_env, env, default=True).enabled is True  # revenue dev
    Variable.set(switch_variable(sqlite_env), "false", overwrite=True)
    try:
        assert heal_policy(sqlite_env, env, default=True).enabled is False
        Variable.set(switch_variable(sqlite_env), "true", overwrite=True)
        assert heal_policy(sqlite_env, env).enabled is True
    finally:
        Variable.unset(switch_variable(sqlite_env))


def test_switched_off_nothing_is_recorded_or_started(sqlite_env, deployments):
    seed_orders(sqlite_env, orders(1, [DAY]))
    off = HealPolicy(enabled=False, settle=dt.timedelta(0))
    assert pass_at(sqlite_env, NOW, off) == []
    assert heal_log.latest_claims(environment(sqlite_env).warehouse, [DAY]) == {}
    assert heal_runs_of(sqlite_env) == []


def test_two_watchers_at_once_start_one_run_per_day(pg_env, deployments):
    days = [day(0), day(1)]
    seed_orders(pg_env, orders(1, days))
    pass_at(pg_env, NOW, days=days)
    barrier = threading.Barrier(4)
    started: list[list] = []

    def watcher() -> None:
        barrier.wait()
        started.append(pass_at(pg_env, NOW + SETTLE, days=days))

    threads = [threading.Thread(target=watcher) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(d for runs in started for run in runs for d in run.days) == days
    assert sorted(r.name for r in heal_runs_of(pg_env)) == [f"heal-{d}" for d in days]


def test_a_claim_whose_watcher_stopped_before_starting_is_started_once_under_its_key(pg_env, deployments):
    seed_orders(pg_env, orders(1, [DAY]))
    env = environment(pg_env)
    statuses = current_statuses(env, [DAY])
    from revenue.healing import heal_runs, settled, wanted

    [request] = heal_log.record_wanted(env.warehouse, wanted(statuses, ON, NOW), NOW - SETTLE)
    [claimed] = heal_log.claim(env.warehouse, settled([request], NOW, SETTLE), "a watcher that died", NOW)
    [run] = heal_runs(pg_env, [claimed])
    heal_log.assign(env.warehouse, [claimed], run.key, run.name)  # ... and it died here

    assert pass_at(pg_env, NOW + dt.timedelta(seconds=30), days=[DAY]) == []  # it may still start it
    [again] = pass_at(pg_env, NOW + RESTART_AFTER + dt.timedelta(seconds=1), days=[DAY])
    assert again.key == run.key
    assert pass_at(pg_env, NOW + 2 * RESTART_AFTER, days=[DAY]) == []  # recorded: not again
    [flow_run] = heal_runs_of(pg_env)
    assert flow_run.idempotency_key == run.key
    with env.warehouse.engine.connect() as connection:
        table = env.warehouse.table("heal_requests")
        [row] = connection.execute(sa.select(table.c.run_id, table.c.claimed_by)).all()
    assert row.run_id == str(flow_run.id) and row.claimed_by == "a watcher that died"


def test_a_heal_run_is_named_for_the_days_it_heals(sqlite_env):
    from prefect import tags

    seed_orders(sqlite_env, orders(1, [DAY, day(1), day(2)]))
    with tags("heal"):
        daily = daily_revenue(partition_date=str(DAY), env=sqlite_env, return_state=True)
        ranged = backfill(start=str(DAY), end=str(day(2)), days=[str(day(2))], env=sqlite_env, return_state=True)
    plain = backfill(start=str(DAY), end=str(day(1)), env=sqlite_env, return_state=True)
    with get_client(sync_client=True) as client:
        names = [client.read_flow_run(s.state_details.flow_run_id).name for s in (daily, ranged, plain)]
    assert names == [f"heal-{DAY}", f"heal-{DAY}..{day(2)}", f"backfill-{DAY}..{day(1)}"]
    assert [o.partition for o in ranged.result()] == [str(day(2))]


def test_an_input_back_at_a_version_healed_before_is_healed_again(config):
    seed_orders(config, orders(1, [DAY]))
    publish(config, [DAY])
    keys = []
    at = NOW - dt.timedelta(minutes=5)
    for change in ("add 500", "add 501", "delete 501"):  # versions B, C, then B again
        verb, order_id = change.split()
        if verb == "add":
            add_late_rows(config, [(int(order_id), "late", 1.0, f"{DAY} 22:00:00")])
        else:
            with environment(config).source.engine.begin() as connection:
                connection.execute(sa.text("DELETE FROM orders WHERE order_id = :id"), {"id": int(order_id)})
        pass_at(config, at, days=[DAY])
        [started] = pass_at(config, at + SETTLE, days=[DAY])
        keys.append(started.key)
        state = daily_revenue(partition_date=str(DAY), env=config, return_state=True)  # as the heal run does
        assert state.is_completed(), state.message
        at += 2 * SETTLE
    assert len(set(keys)) == 3
    assert [r.idempotency_key for r in heal_runs_of(config)] == keys


def end(run_id, how: str) -> None:
    """End a flow run as Ctrl-C (cancelled), a lost worker (crashed) or a database outage
    after the run's retries (failed, nothing recorded in the ledger) would."""
    from prefect.states import Cancelled, Completed, Crashed, Failed

    state = {"cancelled": Cancelled, "crashed": Crashed, "failed": Failed, "completed": Completed}[how](message=how)
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(run_id, state, force=True)


def test_a_heal_run_that_ends_without_publishing_or_failing_the_day_is_started_again_up_to_three_runs(
    pg_env, deployments
):
    from revenue.healing import MAX_STARTS

    seed_orders(pg_env, orders(1, [DAY]))
    at = dt.datetime.now(UTC) - 4 * SETTLE  # the grid shows a heal as running for 15 minutes of the real clock
    pass_at(pg_env, at, days=[DAY])
    started = pass_at(pg_env, at + SETTLE, days=[DAY])
    for attempt, how in enumerate(("failed", "cancelled", "crashed"), start=1):
        [run] = started
        [flow_run] = [r for r in heal_runs_of(pg_env) if r.idempotency_key == run.key]
        [status] = current_statuses(environment(pg_env), [DAY])
        assert (status.state, status.detail) == ("running", "never published -> healing")
        end(flow_run.id, how)
        [status] = current_statuses(environment(pg_env), [DAY])  # no longer shown healing
        assert status.state == "missing" and status.detail == f"heal-{DAY} ended {how} without publishing it"
        at += SETTLE // 2
        assert pass_at(pg_env, at, days=[DAY]) == []  # reopened: the settle time again
        started = pass_at(pg_env, at + SETTLE, days=[DAY])
        assert bool(started) == (attempt < MAX_STARTS)
    assert len({r.idempotency_key for r in heal_runs_of(pg_env)}) == MAX_STARTS


def test_a_version_that_comes_back_before_it_settled_waits_the_settle_time_again(sqlite_env, deployments):
    config = sqlite_env
    seed_orders(config, orders(1, [DAY]))
    publish(config, [DAY])
    add_late_rows(config, [(500, "late", 1.0, f"{DAY} 22:00:00")])  # version B
    pass_at(config, NOW, days=[DAY])
    add_late_rows(config, [(501, "later", 1.0, f"{DAY} 22:30:00")])  # C, before B settled
    pass_at(config, NOW + dt.timedelta(hours=1), days=[DAY])
    with environment(config).source.engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM orders WHERE order_id = 501"))  # B again, hours after first seen
    back = NOW + dt.timedelta(hours=2)
    assert pass_at(config, back, days=[DAY]) == []  # not claimed at once: the wait starts again
    [started] = pass_at(config, back + SETTLE, days=[DAY])
    assert started.days == [DAY]


def test_a_day_another_run_published_while_a_claim_was_pending_is_healed_when_it_falls_behind_again(
    sqlite_env, deployments
):
    """A claimed, then its heal run finds B (rows added while it waited) and publishes B,
    then the input goes back to A: the day is behind B, a new need for A."""
    config = sqlite_env
    seed_orders(config, orders(1, [DAY]))
    publish(config, [DAY])
    add_late_rows(config, [(500, "late", 1.0, f"{DAY} 22:00:00")])  # A
    pass_at(config, NOW, days=[DAY])
    [first] = pass_at(config, NOW + SETTLE, days=[DAY])
    add_late_rows(config, [(501, "later", 1.0, f"{DAY} 22:30:00")])  # B
    state = daily_revenue(partition_date=str(DAY), env=config, return_state=True)  # as the heal run: B
    assert state.is_completed(), state.message
    [flow_run] = [r for r in heal_runs_of(config) if r.idempotency_key == first.key]
    end(flow_run.id, "completed")
    with environment(config).source.engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM orders WHERE order_id = 501"))  # A again
    pass_at(config, NOW + 2 * SETTLE, days=[DAY])
    [again] = pass_at(config, NOW + 3 * SETTLE, days=[DAY])
    assert again.days == [DAY] and again.key != first.key


def test_a_claim_whose_run_could_not_be_started_says_so_and_links_no_other_run(sqlite_env, deployments):
    from revenue.healing import heal_runs, settled, wanted

    config = sqlite_env
    seed_orders(config, orders(1, [DAY]))
    publish(config, [DAY])
    add_late_rows(config, [(500, "late", 1.0, f"{DAY} 22:00:00")])
    env = environment(config)
    [request] = heal_log.record_wanted(env.warehouse, wanted(current_statuses(env, [DAY]), ON, NOW), NOW - SETTLE)
    [claimed] = heal_log.claim(env.warehouse, settled([request], NOW, SETTLE), "a watcher", NOW)
    [run] = heal_runs(config, [claimed])
    heal_log.assign(env.warehouse, [claimed], run.key, run.name)  # run_deployment failed: the API was down
    [status] = current_statuses(env, [DAY])
    assert status.state == "stale" and status.run_id != run.key
    assert f"heal claimed {NOW:%Y-%m-%d %H:%M} UTC, its run not started yet (retrying)" in status.detail
