"""What one heal pass of the landing watcher costs over 56 and over 365 days (10k orders a
day): detecting what changed must stay a few SQL statements per pass, whatever the number
of days.

``python -m bench.heal_pass [--quick]`` runs this scenario alone (it starts the benchmark's
services and loads the orders itself); ``make bench`` runs it after ``bench/verify_range.py``,
on the days the scaling scenario published.

Setup (untimed): the longest range is published through the pipeline, a ``backfill`` flow
run (not forced: under ``make bench`` every day is published already and this is one
fingerprint query and one ledger query; alone, every day is computed). Each range is the
first N loaded days, looked at as the watcher would on the day after its last: ``now`` is
noon UTC of that day and the heal horizon is exactly the N days (``HealPolicy(enabled=True,
horizon_days=N)``; ``settle`` one hour, so nothing settles while the benchmark runs).

Timed, in one process with the environment loaded and its connections open, each pass
after one untimed pass, ``passes`` times (median shown, every wall in the JSON):

- ``plan``: ``revenue.status.current_statuses(env, days)``, the planning the watcher's
  ``look_after_days`` does once a pass for the grid and the heal (source fingerprints,
  the ledger and published totals, landed files, order moves, running marks, heal claims);
- ``heal``: ``flows.healing.heal`` on those statuses with the switch on (record the days
  behind their input, claim those settled, restart unstarted claims);
- ``pass``: both.

Two states of the warehouse: ``current``, every day published at its input (nothing to
heal: no run is started, so no Prefect deployment is needed), and ``stale``, with a few
late orders inserted (COPY) into ``STALE_DAYS`` days of the shortest range: each pass
plans them as stale, ``heal`` records them in ``heal_requests`` and, the settle time not
passed, starts nothing. The heal log is emptied before each range's stale passes (its
requests would otherwise be settled at the longer range's later ``now``), and the late
orders are deleted at the end, which puts the days back at their published input.

SQL statements are counted with SQLAlchemy's ``before_cursor_execute`` event on every
engine of the process (the source's, the warehouse's; an ``executemany`` counts once),
for every timed pass; ``statements`` lists them by kind (their first words) for one
pass, so a statement whose count grows with the days is named. The wall of a pass grows
with the rows the fingerprint aggregates (every row of every day, in Postgres); the
statement count should not, beyond one fingerprint query per ``FINGERPRINT_BATCH`` days.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlalchemy.engine.interfaces import DBAPICursor

    from revenue.healing import HealRun
    from revenue.status import PartitionStatus

LENGTHS = (56, 365)
"""Ranges looked at, in days (the first N loaded days)."""
QUICK_LENGTHS = (7, 28)
PASSES = 5
"""Timed passes of each range and state (median shown)."""
STALE_DAYS = 5
"""Days of the shortest range made stale by late orders."""
LATE_ORDERS = 20
"""Late orders inserted into each stale day."""
LATE_FIRST_ID = 900_000_000
"""The late orders' first ``order_id`` (far above the benchmark's seeded ids)."""
SETTLE = dt.timedelta(hours=1)
"""The heal policy's settle time here: never passed while the benchmark runs."""
KIND_WORDS = 4
"""First words of a statement that, with its table, name its kind in ``statements_by_kind``."""


class StatementCounter:
    """Every SQL statement the process's engines send while ``counting`` (SQLAlchemy's
    ``before_cursor_execute`` on the ``Engine`` class: every engine, any URL), with which
    engine sent it (``names``: an engine -> its name; others are ``other``) and its
    seconds until ``after_cursor_execute`` (the round trip; rows are fetched by then)."""

    def __init__(self, names: dict[Any, str]) -> None:
        self.names = names
        self.sent: list[tuple[str, str]] = []
        self.seconds: list[float] = []
        self._started: dict[int, float] = {}

    def _before(
        self,
        conn: Connection,
        cursor: DBAPICursor,
        statement: str,
        parameters: object,
        context: object,
        executemany: bool,
    ) -> None:
        self.sent.append((self.names.get(conn.engine, "other"), statement))
        self._started[id(cursor)] = time.perf_counter()

    def _after(
        self,
        conn: Connection,
        cursor: DBAPICursor,
        statement: str,
        parameters: object,
        context: object,
        executemany: bool,
    ) -> None:
        started = self._started.pop(id(cursor), None)
        if started is not None:
            self.seconds.append(time.perf_counter() - started)

    @contextmanager
    def counting(self) -> Iterator[list[tuple[str, str]]]:
        """The statements sent inside the block (a new list each time; ``seconds`` is
        reset with it)."""
        import sqlalchemy as sa

        self.sent, self.seconds, self._started = [], [], {}
        sa.event.listen(sa.engine.Engine, "before_cursor_execute", self._before)
        sa.event.listen(sa.engine.Engine, "after_cursor_execute", self._after)
        try:
            yield self.sent
        finally:
            sa.event.remove(sa.engine.Engine, "before_cursor_execute", self._before)
            sa.event.remove(sa.engine.Engine, "after_cursor_execute", self._after)


def kind(engine: str, statement: str) -> str:
    """A statement's kind: its engine, verb, first table and first words (values are
    bound, so two runs of one query have one kind)."""
    text = re.sub(r"\s+", " ", statement).strip()
    table = re.search(r"\b(?:FROM|INTO|UPDATE)\s+([\w.]+)", text)
    words = " ".join(text.split(" ")[:KIND_WORDS])[:60]
    return f"{engine} {table.group(1) if table else '-'}: {words}"


def by_engine(sent: list[tuple[str, str]]) -> dict[str, int]:
    return dict(sorted(Counter(engine for engine, _ in sent).items()))


def _median(values: list[float]) -> float:
    """The lower median."""
    return sorted(values)[(len(values) - 1) // 2]


def measure(
    counter: StatementCounter,
    plan: Callable[[], list[PartitionStatus]],
    heal: Callable[[list[PartitionStatus]], list[HealRun]],
    passes: int,
) -> dict[str, Any]:
    """One untimed pass, then ``passes`` timed ones: walls and statement counts of the plan,
    the heal and both, and the last pass's statements by kind. ``heal`` must start no run."""
    walls: dict[str, list[float]] = {"plan": [], "heal": [], "pass": []}
    counts: dict[str, list[int]] = {"plan": [], "heal": [], "pass": []}
    kinds: Counter[str] = Counter()
    kind_ms: dict[str, float] = {}
    sql_s: dict[str, list[float]] = {"plan": [], "heal": [], "pass": []}
    engines: dict[str, int] = {}
    statuses: list[PartitionStatus] = []
    for number in range(passes + 1):
        gc.collect()
        with counter.counting() as planned:
            started = time.perf_counter()
            statuses = plan()
            planned_at = time.perf_counter()
        plan_seconds = counter.seconds
        with counter.counting() as healed:
            runs = heal(statuses)
            ended = time.perf_counter()
        heal_seconds = counter.seconds
        if runs:
            raise RuntimeError(f"the heal pass started {len(runs)} run(s): {[r.name for r in runs]}")
        if number == 0:
            continue  # untimed: connections, caches, the first record of the heal log
        for name, seconds, sent, in_sql in (
            ("plan", planned_at - started, planned, plan_seconds),
            ("heal", ended - planned_at, healed, heal_seconds),
            ("pass", ended - started, planned + healed, plan_seconds + heal_seconds),
        ):
            walls[name].append(round(seconds, 6))
            counts[name].append(len(sent))
            sql_s[name].append(round(sum(in_sql), 6))
        kinds = Counter(kind(engine, s) for engine, s in planned + healed)
        kind_ms = {}
        for (engine, statement), took in zip(planned + healed, plan_seconds + heal_seconds, strict=True):
            name = kind(engine, statement)
            kind_ms[name] = round(kind_ms.get(name, 0.0) + took * 1000, 2)
        engines = by_engine(planned + healed)
    states = Counter(s.state for s in statuses)
    return {
        "wall_s": {name: _median(values) for name, values in walls.items()},
        "walls_s": walls,
        "statements": {name: max(values) for name, values in counts.items()},
        "statement_counts": counts,
        "statements_by_engine": engines,
        "statements_by_kind": dict(sorted(kinds.items())),
        "sql_s": {name: _median(values) for name, values in sql_s.items()},
        "sql_ms_by_kind": dict(sorted(kind_ms.items(), key=lambda item: -item[1])),
        "states": dict(sorted(states.items())),
        "behind_input": sum(s.behind_input for s in statuses),
    }


def heal_pass_scenarios(
    context: dict[str, Any], start_iso: str, lengths: list[int], passes: int = PASSES
) -> dict[str, Any]:
    """Publishes the longest range if it is not, then times the watcher's heal pass over
    each range, on a current warehouse and with ``STALE_DAYS`` days made stale."""
    os.environ["PREFECT_API_URL"] = context["api_url"]
    from bench.child import memory_snapshot, quiet_child

    quiet_child()
    import sqlalchemy as sa

    from bench.stages import prepare_environment
    from flows.backfill import backfill
    from flows.healing import heal, horizon_days
    from revenue.demo_data import generate_orders
    from revenue.healing import HealPolicy
    from revenue.io.heal_log import TABLE as HEAL_TABLE
    from revenue.io.orders_table import load_orders
    from revenue.io.source import FINGERPRINT_BATCH
    from revenue.status import current_statuses

    env = prepare_environment(context["config"])
    config = context["config"]
    start = dt.date.fromisoformat(start_iso)
    lengths = sorted(lengths)
    longest = start + dt.timedelta(days=lengths[-1] - 1)
    started = time.perf_counter()
    state = backfill(start=start_iso, end=longest.isoformat(), env=config, return_state=True)
    outcomes = state.result(raise_on_failure=False)
    if not isinstance(outcomes, list):
        raise RuntimeError(f"backfill of {start}..{longest} ended {state.name}: {state.message}")
    setup: dict[str, Any] = {
        "backfill_s": round(time.perf_counter() - started, 3),
        "outcomes": {o: sum(x.outcome == o for x in outcomes) for o in sorted({x.outcome for x in outcomes})},
    }
    counter = StatementCounter({env.source.engine: "source", env.warehouse.engine: "warehouse"})
    heal_log = env.warehouse.table(HEAL_TABLE)

    def window(n: int) -> tuple[dt.datetime, HealPolicy, list[dt.date]]:
        """The watcher's ``now`` on the day after the range, its policy and the days it plans."""
        now = dt.datetime.combine(start + dt.timedelta(days=n), dt.time(12), tzinfo=dt.timezone.utc)
        policy = HealPolicy(enabled=True, settle=SETTLE, horizon_days=n, deadline=env.block.alert_deadline)
        return now, policy, horizon_days(policy, now.date())

    def scenario(n: int) -> dict[str, Any]:
        now, policy, days = window(n)
        assert days[0] == start and len(days) == n, (days[0], len(days))
        return measure(
            counter,
            lambda: current_statuses(env, days),
            lambda statuses: heal(config, env, statuses, policy, now),
            passes,
        )

    def heal_log_rows() -> list[Any]:
        with env.warehouse.engine.connect() as connection:
            return list(connection.execute(sa.select(heal_log.c.partition_date, heal_log.c.claimed_at)))

    runs: list[dict[str, Any]] = [{"days": n, "end": (start + dt.timedelta(days=n - 1)).isoformat()} for n in lengths]
    for run in runs:
        run["current"] = scenario(run["days"])
        if run["current"]["behind_input"]:
            raise RuntimeError(f"{run['days']} days: {run['current']['states']} on a warehouse meant to be current")

    stale_count = min(STALE_DAYS, lengths[0])
    step = max(1, lengths[0] // stale_count)
    stale = [start + dt.timedelta(days=i * step + step // 2) for i in range(stale_count)]
    source = sa.create_engine(context["pg_url"])
    try:
        for number, day in enumerate(stale):
            first_id = LATE_FIRST_ID + number * 10 * LATE_ORDERS
            load_orders(source, generate_orders(day, day, LATE_ORDERS, seed=99 + number, first_id=first_id))
        for run in runs:
            with env.warehouse.engine.begin() as connection:
                connection.execute(heal_log.delete())
            run["stale"] = scenario(run["days"])
            recorded = heal_log_rows()
            run["stale"]["heal_requests"] = len(recorded)
            if sorted(r.partition_date for r in recorded) != stale or any(r.claimed_at for r in recorded):
                raise RuntimeError(f"{run['days']} days: the heal log holds {recorded}, expected {stale} unclaimed")
    finally:
        with source.begin() as connection:
            connection.execute(
                sa.text("DELETE FROM orders WHERE order_id >= :first"), {"first": LATE_FIRST_ID}
            )  # the stale days are back at their published input
        source.dispose()
        with env.warehouse.engine.begin() as connection:
            connection.execute(heal_log.delete())
    return {
        "setup": setup,
        "passes": passes,
        "stale_days": [d.isoformat() for d in stale],
        "late_orders_per_stale_day": LATE_ORDERS,
        "fingerprint_batch": FINGERPRINT_BATCH,
        "runs": runs,
        "ratios": ratios(runs),
        "memory": memory_snapshot(),
    }


def ratios(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Longest range over shortest: days, wall of each part, statements of each part."""
    if len(runs) < 2:
        return {}
    short, long = runs[0], runs[-1]
    found: dict[str, Any] = {"days": round(long["days"] / short["days"], 2)}
    for state in ("current", "stale"):
        for part in ("plan", "heal", "pass"):
            a, b = short[state]["wall_s"][part], long[state]["wall_s"][part]
            found[f"{state}_{part}_wall"] = round(b / a, 2) if a else None
            found[f"{state}_{part}_statements"] = (
                f"{long[state]['statements'][part]}/{short[state]['statements'][part]}"
            )
    return found


def grown(runs: list[dict[str, Any]]) -> list[str]:
    """The kinds of statement sent more often per pass over the longest range than over the
    shortest (each with both counts)."""
    if len(runs) < 2:
        return []
    out = []
    for state in ("current", "stale"):
        short, long = runs[0][state]["statements_by_kind"], runs[-1][state]["statements_by_kind"]
        for name in sorted(set(short) | set(long)):
            if long.get(name, 0) > short.get(name, 0):
                out.append(f"{state}: {short.get(name, 0)} -> {long.get(name, 0)} x {name}")
    return out


def render_lines(results: dict[str, Any] | None) -> list[str]:
    """The report's lines for this scenario (empty when it did not run)."""
    if not results:
        return []
    runs = results["runs"]
    out = [
        f"Watcher heal pass (current_statuses + flows.healing.heal, switch on, horizon = the range; one warmed "
        f"process; median of {results['passes']}; setup backfill {results['setup']['backfill_s']:.1f} s, "
        f"{results['setup']['outcomes']})"
    ]
    for state, label in (
        ("current", "nothing to heal"),
        ("stale", f"{len(results['stale_days'])} days stale (recorded, not settled)"),
    ):
        for run in runs:
            wall, count, sql = run[state]["wall_s"], run[state]["statements"], run[state]["sql_s"]
            out.append(
                f"  {run['days']:>4} days, {label}: pass {wall['pass'] * 1000:.0f} ms "
                f"(SQL {sql['pass'] * 1000:.0f} ms), "
                f"{count['pass']} statements (plan {wall['plan'] * 1000:.0f} ms / {count['plan']}, "
                f"heal {wall['heal'] * 1000:.1f} ms / {count['heal']})"
            )
    if results.get("ratios"):
        r = results["ratios"]
        out.append(
            f"  {runs[-1]['days']} vs {runs[0]['days']} days ({r['days']}x the days): pass wall "
            f"{r['current_pass_wall']}x (stale {r['stale_pass_wall']}x), statements {r['current_pass_statements']} "
            f"(stale {r['stale_pass_statements']})"
        )
    out.extend(f"  grows with the days: {line}" for line in grown(runs))
    out.append("")
    return out


def main(argv: list[str] | None = None) -> int:
    from bench.services import add_standalone_options, print_and_save, quiet_prefect

    quiet_prefect()
    from bench.plan import BACKFILL_START, Plan, parse_size

    parser = argparse.ArgumentParser(prog="python -m bench.heal_pass", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke check: 7 and 28 days at 1k orders a day, 3 passes")
    parser.add_argument("--days", default=None, help="ranges in days (default 56,365)")
    parser.add_argument("--orders-per-day", type=parse_size, default=None, help="orders a day (default 10k)")
    parser.add_argument("--passes", type=int, default=None, help=f"timed passes (default {PASSES})")
    add_standalone_options(parser)
    args = parser.parse_args(argv)
    lengths = (
        sorted({int(n) for n in args.days.split(",")}) if args.days else list(QUICK_LENGTHS if args.quick else LENGTHS)
    )
    if not all(1 <= n <= 730 for n in lengths):
        parser.error("--days must be between 1 and 730")
    passes = args.passes or (3 if args.quick else PASSES)
    orders = args.orders_per_day or (1_000 if args.quick else 10_000)
    from bench.child import run_in_child
    from bench.data import load
    from bench.machine import load_average
    from bench.runner import Progress
    from bench.services import services

    log = Progress()
    plan = Plan(
        sizes=(),
        backfill_days=lengths[0],
        scaling_days=tuple(lengths),
        backfill_orders_per_day=orders,
        seed=args.seed,
        database_url=args.database_url,
    )
    started = load_average()
    with services(plan.database_url, log=log) as svc:
        log(f"loading {plan.loaded_days} days x {orders:,} orders (generate_orders + COPY)")
        data = load(svc.pg_url, plan, log=log)
        log(f"heal pass over {', '.join(map(str, lengths))} days (the longest published first)")
        results = run_in_child(heal_pass_scenarios, svc.child_context(), BACKFILL_START.isoformat(), lengths, passes)
    results["data"] = {k: v for k, v in data.items() if k != "rows_by_day"}
    results["orders_per_day"] = orders
    results["load_average"] = {"start": started, "end": load_average()}
    load_line = f"load average: {started} at start, {results['load_average']['end']} at end"
    print_and_save([*render_lines(results), load_line], results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
