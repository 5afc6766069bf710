"""The heal's decisions, pure: which days are wanted, when they are settled, how they are
grouped into runs, and how a day being healed is shown."""

from __future__ import annotations

import datetime as dt

from revenue.grid import attention
from revenue.healing import HealPolicy, HealRequest, heal_runs, settled, stopped, wanted, with_heal
from revenue.status import PartitionStatus

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
D = dt.date(2026, 3, 10)
POLICY = HealPolicy(enabled=True, horizon_days=14)


def status(state, day=D, behind=True, orders=True, detail="source rows changed", fp="fp1", run_id=None):
    return PartitionStatus(day, state, detail, run_id, fingerprint=fp, behind_input=behind, has_orders=orders)


def request(day=D, fp="fp1", seen=NOW, claimed=None, run_id=None, starts=0, name=None, reason="source rows changed"):
    return HealRequest(day, fp, reason, seen, claimed, None, run_id, name, starts)


def test_wanted_days_are_behind_their_input_inside_the_horizon_with_orders_and_not_running():
    days = [
        status("stale"),
        status("stale", day=D - dt.timedelta(days=10)),  # 20 days back: beyond a 14-day horizon
        status("stale", behind=False, detail="daily_revenue.revenue 1.00 differs from the published 2.00"),
        status("missing", day=D + dt.timedelta(days=1), orders=False, detail=""),
        status("running", day=D + dt.timedelta(days=2)),
        status("failed", day=D + dt.timedelta(days=3), behind=False),
        status("failed", day=D + dt.timedelta(days=4)),
        status("missing", day=D + dt.timedelta(days=5), detail=""),
        status("materialized", day=D + dt.timedelta(days=6), behind=False),
        status("stale", day=NOW.date()),  # today is never healed
    ]
    assert [(w.partition.day, w.reason) for w in wanted(days, POLICY, NOW)] == [
        (10, "source rows changed"),
        (14, "input changed since it failed"),
        (15, "never published"),
    ]


def test_a_never_published_day_waits_for_its_deadline():
    yesterday = status("missing", day=NOW.date() - dt.timedelta(days=1), detail="")
    morning = dt.datetime.combine(NOW.date(), dt.time(7, 29), tzinfo=UTC)
    assert wanted([yesterday], POLICY, morning) == []
    assert len(wanted([yesterday], POLICY, morning + dt.timedelta(minutes=1))) == 1


def test_settled_after_the_settle_time_and_never_once_claimed():
    settle = dt.timedelta(seconds=60)
    fresh, quiet = (
        request(seen=NOW - dt.timedelta(seconds=59)),
        request(day=D + dt.timedelta(days=1), seen=NOW - settle),
    )
    claimed = request(day=D + dt.timedelta(days=2), seen=NOW - settle * 10, claimed=NOW - settle)
    assert settled([fresh, quiet, claimed], NOW, settle) == [quiet]


def test_a_few_days_are_daily_runs_and_from_three_one_range_run_over_exactly_them():
    two = [request(), request(day=D + dt.timedelta(days=5))]
    runs = heal_runs("prod", two)
    assert [(r.deployment, r.name, r.parameters) for r in runs] == [
        ("daily-revenue/daily", "heal-2026-03-10", {"partition_date": "2026-03-10", "env": "prod"}),
        ("daily-revenue/daily", "heal-2026-03-15", {"partition_date": "2026-03-15", "env": "prod"}),
    ]
    [run] = heal_runs("prod", [*two, request(day=D + dt.timedelta(days=2))])
    assert (run.deployment, run.name) == ("backfill/range", "heal-2026-03-10..2026-03-15")
    assert run.parameters["days"] == ["2026-03-10", "2026-03-12", "2026-03-15"]
    assert heal_runs("prod", two)[0].key == heal_runs("prod", list(reversed(two)))[0].key  # every watcher alike
    assert heal_runs("prod", [request(seen=NOW + dt.timedelta(hours=1))])[0].key != runs[0].key  # a new episode


def test_a_run_that_ended_while_its_day_is_still_wanted_is_started_again_at_most_three_times():
    claimed = dict(claimed=NOW)
    requests = [
        request(run_id="a", **claimed),
        request(run_id="b", **claimed),
        request(run_id="c", **claimed),
        request(run_id="d", starts=3, **claimed),
        request(run_id="e", **claimed),
    ]
    states = {"a": "CANCELLED", "b": "FAILED", "c": "CRASHED", "d": "CRASHED", "e": "RUNNING"}
    assert [r.run_id for r in stopped(requests, states)] == ["a", "b", "c"]


def test_a_day_being_healed_shows_running_with_its_reason_then_what_healed_it():
    claimed = request(claimed=NOW - dt.timedelta(minutes=1), run_id="r1", name="heal-2026-03-10")
    shown = with_heal(status("stale", run_id="r0"), claimed, None, NOW)
    assert (shown.state, shown.detail, shown.run_id) == ("running", "source rows changed -> healing", "r1")
    computing = with_heal(status("running", detail="computing now (was stale)"), claimed, "r1", NOW)
    assert computing.detail == "source rows changed -> healing"
    ended = with_heal(status("stale"), claimed, None, NOW, "CANCELLED")
    assert (ended.state, ended.detail) == (
        "stale",
        "source rows changed; heal-2026-03-10 ended cancelled without publishing it",
    )
    late = with_heal(status("stale"), claimed, None, NOW + dt.timedelta(minutes=20))
    assert late.state == "stale" and "heal-2026-03-10 started 2026-03-20 11:59 UTC has not published it" in late.detail
    healed = with_heal(status("materialized", behind=False, detail="", run_id="r1"), claimed, None, NOW)
    assert healed.detail == "healed by heal-2026-03-10: source rows changed"
    assert healed.healed_by == "heal-2026-03-10"
    assert attention([healed]) == [healed]  # listed with the run that healed it, for a day
    day_later = with_heal(
        status("materialized", behind=False, detail="", run_id="r1"), claimed, None, NOW + dt.timedelta(days=2)
    )
    assert day_later.healed_by is None and attention([day_later]) == []
    other_version = with_heal(status("stale", fp="fp2"), claimed, None, NOW)
    assert other_version.state == "stale" and other_version.detail == "source rows changed"
