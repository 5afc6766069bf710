"""Healing end to end: the landing watcher (``revenue watch``, two of them, as two machines
would run it) recomputes by itself the days the warehouse is behind on, on a live Prefect
server with the deployed deployments and two process workers (``testkit.e2e_stack``).

The stack: every day's baseline is published by ``revenue backfill`` while no watcher runs;
then the Prefect server is stopped (the cron times of the catch-up days pass without it),
three more days of orders arrive, the server starts again, and the workers and both
watchers start (healing on: ``REVENUE_HEAL=true`` at ``revenue blocks create``, a settle
time of ``SETTLE`` seconds). Each scenario edits its own days; the edits are made one
after another, each once the watchers have claimed the one before (``kick_off``): the
watcher batches the days it claims in one pass, so two scenarios' days must never settle
in the same pass. Their runs then compute side by side on the workers while the tests check
them, each counting the runs by name, tag and parameters."""

from __future__ import annotations

import collections
import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from revenue.io.activity import LANDING_WATCHER
from testkit import waiting
from testkit.e2e_stack import (
    BIN,
    ROOT,
    Stack,
    api,
    deployed_stack,
    published_revenue,
    seed,
    seed_days,
    source_truth,
    wait_for,
    workers,
)
from testkit.services import stop_all
from testkit.webhook import Receiver

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CONFIG = "e2e"
SETTLE = 10
"""``REVENUE_HEAL_SETTLE_SECONDS``: how long a day's input must stay unchanged before it is healed."""
INTERVAL = 2
"""``revenue watch --interval``: seconds between two passes of a watcher."""
WATCHERS = ("watcher-a", "watcher-b")
TODAY = dt.datetime.now(dt.timezone.utc).date()


def day(days_ago: int) -> dt.date:
    return TODAY - dt.timedelta(days=days_ago)


BULK = [day(n) for n in range(40, 20, -1)]
"""Scenario 2: twenty days edited at once."""
LATE = day(20)
"""Scenario 1: late rows."""
FAILING = day(19)
"""Scenario 3: a heal that fails a critical gate."""
PAIR = [day(18), day(17)]
"""Scenario 4: two days, both watchers looking."""
BASELINE = (BULK[0], PAIR[-1])
"""Published before any watcher runs."""
MISSED = [day(4), day(3), day(2)]
"""Scenario 5: orders of three days that arrived while the server and the watchers were down."""


@dataclass
class Healing:
    """The stack, its watchers and the alert destination."""

    stack: Stack
    watchers: list
    logs: list[Path]
    receiver: Receiver
    edited_at: dict[str, float] = field(default_factory=dict)
    """``time.monotonic()`` of each scenario's edit."""

    def tails(self) -> str:
        """The end of every watcher's log (for a failure's message)."""
        return "\n".join(f"--- {p.name}:\n{p.read_text()[-3000:]}" for p in self.logs)


@pytest.fixture(scope="module")
def healing(tmp_path_factory) -> Iterator[Healing]:
    home = tmp_path_factory.mktemp("healing")
    receiver = Receiver()
    settings = {
        "REVENUE_HEAL": "true",
        "REVENUE_HEAL_SETTLE_SECONDS": str(SETTLE),
        "REVENUE_ALERT_WEBHOOK_URL": receiver.url,
    }
    try:
        with deployed_stack(home, settings, config=CONFIG) as stack:
            seed_days(stack, BASELINE[0], (BASELINE[1] - BASELINE[0]).days + 1, 3, first_id=1_000)
            stack.run(
                str(BIN / "revenue"),
                "backfill",
                "--start",
                str(BASELINE[0]),
                "--end",
                str(BASELINE[1]),
                "--env",
                CONFIG,
                timeout=600,
            )
            assert stack.server is not None
            stack.server.stop()  # down over the missed days' cron times: nothing runs, nothing watches
            seed_days(stack, MISSED[0], len(MISSED), 4, first_id=900_000)
            stack.server.start()
            with workers(stack), watching(stack, home) as (processes, logs):
                yield Healing(stack, processes, logs, receiver)
    finally:
        receiver.server.shutdown()


class watching:  # noqa: N801 - a context manager used like a function
    """``revenue watch --env CONFIG --interval INTERVAL`` per name of ``WATCHERS``, started
    as docs/operations.md says, each logging to ``<home>/<name>.log``; stopped afterwards."""

    def __init__(self, stack: Stack, home: Path) -> None:
        self.stack, self.home = stack, home
        self.processes: list = []
        self.files: list = []

    def __enter__(self) -> tuple[list, list[Path]]:
        import subprocess

        logs = [self.home / f"{name}.log" for name in WATCHERS]
        for log in logs:
            out = open(log, "w")
            self.files.append(out)
            self.processes.append(
                subprocess.Popen(
                    [str(BIN / "revenue"), "watch", "--env", CONFIG, "--interval", str(INTERVAL)],
                    cwd=ROOT,
                    env=self.stack.env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        return self.processes, logs

    def __exit__(self, *exc) -> None:
        stop_all(self.processes, grace=30)
        for out in self.files:
            out.close()


@pytest.fixture(autouse=True)
def watcher_logs_on_failure(request, healing: Healing) -> Iterator[None]:
    """A failed test prints the end of both watchers' logs."""
    failed = request.session.testsfailed
    yield
    if request.session.testsfailed > failed:
        capture = request.config.pluginmanager.getplugin("capturemanager")
        with capture.global_and_fixture_disabled():
            print(f"\n{healing.tails()}")


def requests_of(stack: Stack, days: list[dt.date]) -> list:
    """The heal log's rows of ``days``."""
    return stack.sql(
        "SELECT partition_date, fingerprint, reason, first_seen_at, claimed_at, claimed_by, run_key, run_id, run_name "
        "FROM analytics.heal_requests WHERE partition_date = ANY(:days) ORDER BY partition_date, first_seen_at",
        days=list(days),
    )


def started(healing: Healing, days: list[dt.date], before: set[tuple[dt.date, str]]) -> list:
    """Wait until a watcher claimed a new input version of every one of ``days`` (one not in
    ``before``) and started its run; returns those heal-log rows."""

    def claimed() -> list | None:
        rows = [r for r in requests_of(healing.stack, days) if (r.partition_date, r.fingerprint) not in before]
        done = {r.partition_date for r in rows if r.run_id is not None}
        return rows if done == set(days) else None

    return waiting.wait_for(
        claimed, 120, f"a heal run started for {days[0]}..{days[-1]}", 0.5, on_timeout=healing.tails
    )


def known(healing: Healing, days: list[dt.date]) -> set[tuple[dt.date, str]]:
    return {(r.partition_date, r.fingerprint) for r in requests_of(healing.stack, days)}


@pytest.fixture(scope="module")
def kick_off(healing: Healing) -> Healing:
    """Every scenario's edit, one after another, each once the watchers started the heal of
    the one before (so no two scenarios' days are claimed in one pass and batched)."""
    stack = healing.stack
    started(healing, MISSED, set())  # the catch-up: the watchers saw the missed days on their first passes

    before = known(healing, [LATE])
    seed(stack, [(2_000, "late-1", 12.34, f"{LATE} 23:59:58"), (2_001, "late-2", 0.66, f"{LATE} 00:00:00")])
    healing.edited_at["late"] = time.monotonic()
    started(healing, [LATE], before)

    before = known(healing, PAIR)
    stack.execute(
        "UPDATE orders SET amount = amount + 1, updated_at = now() "
        "WHERE (order_date AT TIME ZONE 'UTC')::date = ANY(:days)",
        days=PAIR,
    )
    started(healing, PAIR, before)

    before = known(healing, [FAILING])
    emptied = stack.execute(  # every order rejected (null customer_id): the cleaned_orders gate fails, critical
        "UPDATE orders SET customer_id = NULL, updated_at = now() WHERE (order_date AT TIME ZONE 'UTC')::date = :d",
        d=FAILING,
    )
    assert emptied == 3
    started(healing, [FAILING], before)

    before = known(healing, BULK)
    touched = stack.execute(
        "UPDATE orders SET amount = amount * 2, updated_at = now() "
        "WHERE (order_date AT TIME ZONE 'UTC')::date BETWEEN :first AND :last",
        first=BULK[0],
        last=BULK[-1],
    )
    assert touched == 3 * len(BULK)
    started(healing, BULK, before)
    return healing


def deployment_names(stack: Stack) -> dict:
    with api(stack) as client:
        return {client.read_deployment_by_name(name).id: name for name in ("daily-revenue/daily", "backfill/range")}


def heal_runs(stack: Stack) -> list:
    """Every flow run tagged ``heal`` or named ``heal-…``, oldest first."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName, FlowRunFilterTags

    with api(stack) as client:
        tagged = client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=["heal"])))
        named = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_="heal-")))
    found = {r.id: r for r in [*tagged, *named]}
    return sorted(found.values(), key=lambda r: r.created)


def runs_of(stack: Stack, days: list[dt.date]) -> list:
    """The heal runs that compute any of ``days``."""
    wanted = {d.isoformat() for d in days}
    return [
        r for r in heal_runs(stack) if wanted & {r.parameters.get("partition_date"), *(r.parameters.get("days") or [])}
    ]


def final_runs_of(healing: Healing, days: list[dt.date], count: int, timeout: float = 300) -> list:
    """The ``count`` heal runs of ``days`` once every one of them is final."""

    def final() -> list | None:
        runs = runs_of(healing.stack, days)
        return runs if len(runs) >= count and all(r.state and r.state.is_final() for r in runs) else None

    return waiting.wait_for(final, timeout, f"{count} final heal run(s) of {days}", 2, on_timeout=healing.tails)


def watcher_passes(healing: Healing, count: int) -> None:
    """Wait until the watchers made ``count`` more passes (heartbeats of ``landing-watcher``)."""
    seen: set = set()

    def enough() -> bool:
        alive = [p.poll() is None for p in healing.watchers]
        assert all(alive), f"a watcher stopped: {healing.tails()}"
        seen.update(
            r.beat_at
            for r in healing.stack.sql("SELECT beat_at FROM analytics.heartbeats WHERE name = :n", n=LANDING_WATCHER)
        )
        return len(seen) > count

    waiting.wait_for(enough, 60 + count * INTERVAL * 2, f"{count} watcher passes", 0.25, on_timeout=healing.tails)


def assert_published_as_source(stack: Stack, days: list[dt.date]) -> None:
    truth = source_truth(stack, days[0], days[-1])
    published = published_revenue(stack)
    assert {d: published.get(d) for d in days} == {d: truth[d] for d in days}


def test_late_rows_are_published_within_two_minutes_by_one_heal_run(kick_off: Healing):
    stack = kick_off.stack
    deadline = kick_off.edited_at["late"] + 120

    def published() -> bool:
        truth = source_truth(stack, LATE, LATE)[LATE]
        return published_revenue(stack).get(LATE) == truth and truth[1] == 5

    waiting.wait_for(
        published, max(0.0, deadline - time.monotonic()), f"{LATE} published again", 1, on_timeout=kick_off.tails
    )
    [run] = final_runs_of(kick_off, [LATE], 1)
    assert run.name == f"heal-{LATE}" and "heal" in run.tags, (run.name, run.tags)
    assert deployment_names(stack)[run.deployment_id] == "daily-revenue/daily"
    assert run.parameters["partition_date"] == LATE.isoformat() and run.state.is_completed(), run.state
    assert_published_as_source(stack, [LATE])
    [ledger] = stack.sql(
        "SELECT run_id FROM analytics.partition_ledger WHERE dataset = 'daily_revenue' AND partition_date = :d", d=LATE
    )
    assert ledger.run_id == str(run.id)
    [request] = [r for r in requests_of(stack, [LATE]) if r.run_id == str(run.id)]
    assert request.claimed_at - request.first_seen_at >= dt.timedelta(seconds=SETTLE)  # healed once it settled
    assert request.run_name == f"heal-{LATE}" and "source rows changed" in request.reason, request


def test_two_watchers_start_one_run_per_day(kick_off: Healing):
    stack = kick_off.stack
    runs = final_runs_of(kick_off, PAIR, 2)
    assert sorted((r.name, r.parameters["partition_date"]) for r in runs) == [
        (f"heal-{d}", d.isoformat()) for d in PAIR
    ], [r.name for r in runs]
    assert all(r.state.is_completed() and "heal" in r.tags for r in runs), [r.state for r in runs]
    assert {deployment_names(stack)[r.deployment_id] for r in runs} == {"daily-revenue/daily"}
    assert_published_as_source(stack, PAIR)
    rows = [r for r in requests_of(stack, PAIR) if r.claimed_at is not None]
    assert sorted(r.partition_date for r in rows) == PAIR and {r.run_id for r in rows} == {str(r.id) for r in runs}
    assert all(p.poll() is None for p in kick_off.watchers), "both watchers ran throughout"
    logs = [p.read_text() for p in kick_off.logs]
    for d in PAIR:  # one watcher started each day's run; the other found it claimed
        assert sum(log.count(f"healing {d} with run heal-{d}") for log in logs) == 1, kick_off.tails()


def test_days_missed_while_the_server_and_watchers_were_down_are_caught_up_by_one_run(kick_off: Healing):
    stack = kick_off.stack
    [run] = final_runs_of(kick_off, MISSED, 1)
    assert run.name == f"heal-{MISSED[0]}..{MISSED[-1]}" and "heal" in run.tags, (run.name, run.tags)
    assert deployment_names(stack)[run.deployment_id] == "backfill/range"
    assert run.parameters["days"] == [d.isoformat() for d in MISSED], run.parameters
    assert run.state.is_completed(), run.state.message
    assert_published_as_source(stack, MISSED)
    requests = requests_of(stack, MISSED)
    assert [(r.partition_date, r.reason, r.run_id) for r in requests] == [
        (d, "never published", str(run.id)) for d in MISSED
    ]


def test_a_bulk_edit_of_twenty_days_is_one_backfill_range_run(kick_off: Healing):
    stack = kick_off.stack
    [run] = final_runs_of(kick_off, BULK, 1, timeout=600)
    assert run.name == f"heal-{BULK[0]}..{BULK[-1]}" and "heal" in run.tags, (run.name, run.tags)
    assert deployment_names(stack)[run.deployment_id] == "backfill/range"
    assert run.parameters["days"] == [d.isoformat() for d in BULK], run.parameters
    assert not run.parameters.get("partitions_per_run"), run.parameters  # one run, no chunk runs
    assert run.state.is_completed(), run.state.message
    assert_published_as_source(stack, BULK)


def test_a_failed_heal_pages_once_and_waits_for_the_input_to_change(kick_off: Healing):
    stack, receiver = kick_off.stack, kick_off.receiver
    [failed] = final_runs_of(kick_off, [FAILING], 1)
    assert failed.name == f"heal-{FAILING}" and failed.state.is_failed(), (failed.name, failed.state)
    assert "null customer_id" in failed.state.message, failed.state.message
    [message] = wait_for(lambda: receiver.about(f"{FAILING} failed"), 120, "the failed-day message")
    assert "quality gate failed" in message["body"], message

    watcher_passes(kick_off, 6)  # both watchers look at the failed day a few times
    assert [r.id for r in runs_of(stack, [FAILING])] == [failed.id], "a failed heal was retried on the same input"
    assert len(receiver.about(f"{FAILING} failed")) == 1, receiver.messages
    [request] = requests_of(stack, [FAILING])[-1:]
    assert request.run_id == str(failed.id)

    before = known(kick_off, [FAILING])
    fixed = stack.execute(
        "UPDATE orders SET customer_id = 'fixed-' || order_id, updated_at = now() "
        "WHERE (order_date AT TIME ZONE 'UTC')::date = :d AND customer_id IS NULL",
        d=FAILING,
    )
    assert fixed == 3
    [healed_request] = started(kick_off, [FAILING], before)
    runs = final_runs_of(kick_off, [FAILING], 2)
    assert [r.id for r in runs][0] == failed.id and len(runs) == 2, [r.name for r in runs]
    healed = runs[1]
    assert healed.name == f"heal-{FAILING}" and healed.state.is_completed(), healed.state.message
    assert healed_request.run_id == str(healed.id)
    assert_published_as_source(stack, [FAILING])
    wait_for(lambda: receiver.about(f"{FAILING} resolved"), 120, "the resolved message")
    assert len(receiver.about(f"{FAILING} failed")) == 1 and len(receiver.about(f"{FAILING} resolved")) == 1


def test_no_day_was_healed_but_by_its_scenario(kick_off: Healing):
    """Every heal run of the module, by name: none twice, none for a day that was current."""
    names = collections.Counter(r.name for r in heal_runs(kick_off.stack))
    assert names == collections.Counter(
        {
            f"heal-{MISSED[0]}..{MISSED[-1]}": 1,
            f"heal-{LATE}": 1,
            **{f"heal-{d}": 1 for d in PAIR},
            f"heal-{FAILING}": 2,
            f"heal-{BULK[0]}..{BULK[-1]}": 1,
        }
    ), names
