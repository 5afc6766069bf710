"""``revenue verify`` over 30 and 365 days of 10k orders a day (issue 24): its cost must grow
with the range asked about, not with the warehouse.

``python -m bench.verify_range [--days 30,365]`` runs this scenario alone (it starts the
benchmark's services and loads the orders itself); ``make bench`` runs it after the scaling
scenario, on the days that scenario published.

Setup (untimed): the longest range is published through the pipeline, a ``backfill`` flow
run (not forced: under ``make bench`` the scaling scenario published every day already and
this is one fingerprint query and one ledger query; alone, every day is computed). So every
range is verified on a warehouse that holds all the loaded days.

Timed, in one process with the environment loaded and its connections open, for each range
(the first N loaded days): ``verify_range`` (the function ``revenue verify`` calls: the
published rows of the range, the range's inputs, each day recomputed row by row in Python
and compared), median of 3 runs for ranges up to 90 days, 1 run above; ``read range``: the
range's published ``daily_revenue`` and ``customer_daily_spend`` rows alone, what verify
reads of the warehouse now; ``whole tables``: both tables read whole, what verify read
before issue 24 whatever the range. Seconds and seconds per day.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import sys
import time
from typing import Any

LENGTHS = (30, 365)
"""Ranges verified, in days (the first N loaded days)."""
MEDIAN_UP_TO = 90
"""Ranges up to this many days are timed 3 times (median); longer ones once."""


def _timed(fn: Any, repeats: int) -> tuple[float, list[float], Any]:
    """The (lower) median wall of ``repeats`` calls, every wall, and the last call's result."""
    walls, result = [], None
    for _ in range(repeats):
        gc.collect()
        started = time.perf_counter()
        result = fn()
        walls.append(round(time.perf_counter() - started, 6))
    return sorted(walls)[(len(walls) - 1) // 2], walls, result


def verify_range_scenarios(context: dict[str, Any], start_iso: str, lengths: list[int]) -> dict[str, Any]:
    """Publishes the longest range if it is not, then times verify over each range."""
    os.environ["PREFECT_API_URL"] = context["api_url"]
    from bench.child import memory_snapshot, quiet_child

    quiet_child()
    from bench.stages import prepare_environment
    from flows.backfill import backfill
    from revenue import catalog
    from revenue.verify import verify_range

    env = prepare_environment(context["config"])
    start = dt.date.fromisoformat(start_iso)
    longest = start + dt.timedelta(days=max(lengths) - 1)
    started = time.perf_counter()
    state = backfill(start=start_iso, end=longest.isoformat(), env=context["config"], return_state=True)
    outcomes = state.result(raise_on_failure=False)
    if not isinstance(outcomes, list):
        raise RuntimeError(f"backfill of {start}..{longest} ended {state.name}: {state.message}")
    setup = {
        "backfill_s": round(time.perf_counter() - started, 3),
        "outcomes": {o: sum(x.outcome == o for x in outcomes) for o in sorted({x.outcome for x in outcomes})},
    }
    tables = (catalog.DAILY_REVENUE.name, catalog.CUSTOMER_DAILY_SPEND.name)

    def whole_tables() -> int:
        return sum(len(env.warehouse.read_table(name)) for name in tables)

    whole_s, whole_walls, whole_rows = _timed(whole_tables, 3)
    runs: list[dict[str, Any]] = []
    for n in sorted(lengths):
        end = start + dt.timedelta(days=n - 1)
        repeats = 3 if n <= MEDIAN_UP_TO else 1

        def read_range(end: dt.date = end) -> int:
            return sum(len(env.warehouse.read_range(name, start, end)) for name in tables)

        read_s, _, read_rows = _timed(read_range, 3)
        verify_s, walls, differences = _timed(lambda end=end: verify_range(env, start, end), repeats)
        runs.append(
            {
                "days": n,
                "start": start.isoformat(),
                "end": end.isoformat(),
                "verify_s": verify_s,
                "verify_per_day_s": round(verify_s / n, 6),
                "verify_walls_s": walls,
                "differences": len(differences),
                "read_range_s": read_s,
                "read_range_rows": read_rows,
            }
        )
    return {
        "setup": setup,
        "warehouse_days": max(lengths),
        "whole_tables_s": whole_s,
        "whole_tables_walls_s": whole_walls,
        "whole_tables_rows": whole_rows,
        "runs": runs,
        "memory": memory_snapshot(),
    }


def render_lines(results: dict[str, Any] | None) -> list[str]:
    """The report's lines for this scenario (empty when it did not run)."""
    if not results:
        return []
    out = [
        f"revenue verify by range (verify_range in one warmed process; the warehouse holds "
        f"{results['warehouse_days']} published days; setup backfill {results['setup']['backfill_s']:.1f} s, "
        f"{results['setup']['outcomes']})"
    ]
    for run in results["runs"]:
        out.append(
            f"  {run['days']:>4} days: verify {run['verify_s']:.2f} s ({run['verify_per_day_s'] * 1000:.0f} ms/day, "
            f"{run['differences']} differences); its published rows ({run['read_range_rows']:,}) read in "
            f"{run['read_range_s']:.3f} s"
        )
    runs = results["runs"]
    if len(runs) > 1:
        out.append(
            f"  per day, {runs[-1]['days']} vs {runs[0]['days']} days: "
            f"{runs[-1]['verify_per_day_s'] / runs[0]['verify_per_day_s']:.2f}x"
        )
    out.append(
        f"  both tables read whole (what verify read for any range before issue 24): "
        f"{results['whole_tables_rows']:,} rows, {results['whole_tables_s']:.3f} s"
    )
    out.append("")
    return out


def main(argv: list[str] | None = None) -> int:
    from bench.services import add_standalone_options, print_and_save, quiet_prefect

    quiet_prefect()
    from bench.plan import BACKFILL_START, Plan, parse_size

    parser = argparse.ArgumentParser(prog="python -m bench.verify_range", description=__doc__.splitlines()[0])
    parser.add_argument("--days", default=",".join(map(str, LENGTHS)), help="ranges in days (default 30,365)")
    parser.add_argument("--orders-per-day", type=parse_size, default=10_000, help="orders a day (default 10k)")
    add_standalone_options(parser)
    args = parser.parse_args(argv)
    lengths = sorted({int(n) for n in args.days.split(",")})
    if not all(1 <= n <= 730 for n in lengths):
        parser.error("--days must be between 1 and 730")
    from bench.child import run_in_child
    from bench.data import load
    from bench.runner import Progress
    from bench.services import services

    log = Progress()
    plan = Plan(
        sizes=(),
        backfill_days=lengths[0],
        scaling_days=tuple(lengths),
        backfill_orders_per_day=args.orders_per_day,
        seed=args.seed,
        database_url=args.database_url,
    )
    with services(plan.database_url, log=log) as svc:
        log(f"loading {plan.loaded_days} days x {args.orders_per_day:,} orders (generate_orders + COPY)")
        data = load(svc.pg_url, plan, log=log)
        log(f"verify over {', '.join(map(str, lengths))} days (the longest published first)")
        results = run_in_child(verify_range_scenarios, svc.child_context(), BACKFILL_START.isoformat(), lengths)
    results["data"] = {k: v for k, v in data.items() if k != "rows_by_day"}
    print_and_save(render_lines(results), results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
