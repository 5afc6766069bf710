"""Seconds from a landed file to published revenue, through the real path (issue 26).

``python -m bench.landing_latency [--files N]`` runs this scenario alone; ``make bench``
runs it too. It starts ``revenue dev`` as a new user does (a fresh ``REVENUE_HOME`` and
``PREFECT_HOME``, the embedded default: a local landing directory, SQLite warehouse, the
Prefect server on a free port, every deployment served from the ``revenue dev`` process, the
landing watcher checking every second), waits until its start-up work is done (the demo
week published, the older demo days healed, no run due or in flight), then lands ``N``
small files one after the other, each four orders of its own day, and waits for each day's
``daily_revenue`` row to be published (and its run to end) before landing the next.

Each file's landing -> published is split as ``testkit/landing_path.py`` says: noticed,
event -> run created, run created -> code running (of which picked up), computing,
publishing. p50 and p95 are nearest-rank percentiles over the files (the first file
included: a user's first file is a file too). Reported, not judged by ``--strict``: the
target is p50 under 10 s and p95 under 20 s on an idle 2-core machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from testkit.landing_path import (
    LABELS,
    ORDERS_PER_FILE,
    SEGMENTS,
    busy,
    dev_stack,
    land_and_time,
    percentile,
    quiet,
    small_file,
    split_line,
)
from testkit.waiting import wait_for

FIRST_DAY_BACK = 90
"""Files land on days this far back and earlier: outside the demo's weeks and the heal horizon."""


MODES = {
    "cold": (("--cold-starts",), "runs in a new interpreter each (revenue dev --cold-starts)"),
    "warm": ((), "runs forked from a warm process (revenue dev's default)"),
}
"""How ``revenue dev`` starts its runs: the options it gets and what they mean."""


def landing_latency(
    files: int,
    modes: tuple[str, ...] = ("cold", "warm"),
    log: Callable[[str], None] | None = None,
    python: str = sys.executable,
) -> dict[str, Any]:
    """``files`` small files landed under ``revenue dev`` started in each of ``modes``."""
    return {"files_per_mode": files, **{mode: one_mode(mode, files, log, python) for mode in modes}}


def one_mode(mode: str, files: int, log: Callable[[str], None] | None, python: str) -> dict[str, Any]:
    """Land ``files`` small files under ``revenue dev`` (started as ``mode`` says), one at a
    time; every file's split and the p50/p95/max of each part."""
    from bench.machine import load_average

    say = log or (lambda message: print(message, file=sys.stderr, flush=True))
    options, meaning = MODES[mode]
    results: dict[str, Any] = {"mode": meaning, "files": []}
    started = time.perf_counter()
    with dev_stack(python, 1.0, *options) as stack:
        results["dev_start_s"] = round(time.perf_counter() - started, 1)
        say(f"landing latency ({mode}): revenue dev started in {results['dev_start_s']} s; waiting for its start-up")
        wait_for(lambda: quiet(stack), 600, "revenue dev's start-up runs to finish", 1.0)
        results["load_average"] = load_average()
        first = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=FIRST_DAY_BACK)
        for number in range(files):
            day = first - dt.timedelta(days=number)
            record = land_and_time(stack, *small_file(number, day), day)
            results["files"].append(record)
            say(f"landing latency ({mode}): file {number + 1}/{files}: {split_line(record)}")
            # the run's process exits after publishing; let it go before the next file lands
            wait_for(lambda: not busy(stack), 60, "the run to end", 0.2)
    results["load_average_end"] = load_average()
    for key in ("total", *SEGMENTS, "picked_up"):
        values = [r[key] for r in results["files"] if r.get(key) is not None]
        results[key] = {
            "p50": percentile(values, 0.5),
            "p95": percentile(values, 0.95),
            "max": max(values, default=None),
        }
    return results


def render_lines(results: dict[str, Any] | None) -> list[str]:
    """The report's lines for this scenario (empty when it did not run): one column pair per mode."""
    modes = [m for m in MODES if results and (results.get(m) or {}).get("files")]
    if not results or not modes:
        return []
    out = [
        f"Landed file -> published revenue under revenue dev: {results['files_per_mode']} files of {ORDERS_PER_FILE} "
        "orders per mode, one at a time; seconds, nearest-rank p50 / p95",
    ]
    for mode in modes:
        load = (results[mode].get("load_average") or ["?"])[0]
        out.append(f"  {mode}: {results[mode]['mode']} (load {load} at start)")
    out.append(f"  {'':<30}" + "".join(f" {mode + ' p50':>10} {mode + ' p95':>10}" for mode in modes))
    for key in ("total", *SEGMENTS[:3], "picked_up", *SEGMENTS[3:]):
        cells = []
        for mode in modes:
            figures = results[mode].get(key) or {}
            if figures.get("p50") is None:
                cells.append(f" {'-':>10} {'-':>10}")
            else:
                cells.append(f" {figures['p50']:10.2f} {figures['p95']:10.2f}")
        out.append(f"  {LABELS[key]:<30}" + "".join(cells))
    for mode in modes:
        total = results[mode]["total"]
        verdict = "met" if total["p50"] < 10 and total["p95"] < 20 else "not met"
        out.append(f"  target p50 < 10 s and p95 < 20 s on an idle machine, {mode}: {verdict}")
    out.append("")
    return out


def main(argv: list[str] | None = None) -> int:
    from bench.services import print_and_save, quiet_prefect

    quiet_prefect()
    parser = argparse.ArgumentParser(prog="python -m bench.landing_latency", description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=12, help="files to land, one after the other (default 12)")
    parser.add_argument(
        "--modes", default="cold,warm", help="how revenue dev starts runs: cold, warm or both (default cold,warm)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    if not modes or any(m not in MODES for m in modes):
        parser.error(f"--modes: choose from {', '.join(MODES)}")
    results = landing_latency(args.files, modes)
    print_and_save(render_lines(results), results, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
