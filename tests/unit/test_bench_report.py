"""``python -m bench.report`` prints a stored results file's full report: the one the run that
wrote it printed at its end. The benchmark runs as a user runs it, in its own process (tests
never import ``bench``).

The fixture is a ``--quick`` run's results file (single partitions of 1k and 10k orders, the
fingerprint, a 5-day backfill, the commands, Prefect's floor, scaling over 3 and 6 days, the
landed files), with a whole-process comparison, a long one whose Dagster run failed, and a
multi-run comparison added by hand: every section and both kinds of whole-process line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "data" / "bench-results.json"


def report_of(path: Path) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.report", str(path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.fixture(scope="module")
def lines() -> list[str]:
    return report_of(FIXTURE)


def test_every_section_comes_once_in_the_report_order(lines: list[str]) -> None:
    headings = [
        "Daily-revenue pipeline benchmark, 2026-12-05T01:13:40+00:00",
        "Single partition: stages run bare",
        "Single partition: the real daily_revenue flow",
        "Baselines on the same rows",
        "Backfill: 5 days x 1k orders, max_concurrency 4",
        "Whole process, start to exit: forced backfill of 5 days x 1k orders (one run each)",
        "Whole process, start to exit: forced backfill of 6 days x 1k orders (one run each)",
        "Scaling with the range",
        "Single-run vs multi-run backfill: forced 5 days x 1k orders",
        "Commands, whole process",
        "Source fingerprint of one day",
        "Reading one landed file at the default limits",
        "Results agree: ",
        "Targets",
    ]
    found = [next((i for i, line in enumerate(lines) if line.startswith(h)), None) for h in headings]
    assert None not in found, [h for h, i in zip(headings, found) if i is None]
    assert found == sorted(found)
    assert all(sum(line.startswith(h) for line in lines) == 1 for h in headings)


def test_the_tables_hold_each_size_and_run(lines: list[str]) -> None:
    assert (
        "10k     10,200    x1       1.25 s    98 ms  50 ms  143 ms       8 ms   259 ms      558 ms          "
        "104k/s       18k/s      26%           436 MB (+63)"
    ) in lines
    assert "  ours / Dagster = 0.66x" in lines
    assert (
        "  multi / single wall = 1.31x; chunk run walls: 2.10 s, 2.30 s, 1.40 s; both modes published the same "
        "numbers: yes"
    ) in lines
    assert "  slope: 650 ms per extra partition; longest range's time per partition / shortest's = 0.95x" in lines


def test_the_agreement_and_the_targets_close_the_report(lines: list[str]) -> None:
    agree = next(line for line in lines if line.startswith("Results agree: "))
    assert agree.endswith("-> same revenue (to 0.01) and order count on all 17 partitions")
    targets = lines[lines.index("Targets") + 1 :]
    assert targets[:6] == [
        "  [FAIL] forced backfill of 5 days x 1k, whole process (CLI start to exit) <= 0.5x the Dagster baseline: "
        "0.66x (ours 6.23 s vs Dagster 9.51 s)",
        "         the same over 6 days x 1k (reported, not judged): failed: dagster: ValueError: no such table "
        "(the JSON has the rest)",
        "  [FAIL] orchestration overhead < 50 ms per partition (5 days x 1k): 430 ms ((flow 3.23 s - bare 1.08 s) / 5)",
        "  [FAIL] Prefect API server CPU < 50 ms per computed partition (5 days x 1k): 100 ms (0.50 s of server CPU "
        "for 5 partitions)",
        "  [FAIL] bare work of a 10k-order partition < 80 ms: 558 ms (extract 98 ms, clean 50 ms, gates 143 ms, "
        "aggregate 8 ms, publish 259 ms)",
        "  [N/A ] bare work of a 1M-order partition < 2.50 s: not run",
    ]
    assert sum(line.startswith("  [PASS] ") for line in targets) == 9
    assert targets[-1] == "  (info) python -c 'import prefect': 1.10 s (the floor of any Prefect command)"


def test_pipelines_that_disagree_get_no_speed(tmp_path: Path) -> None:
    results = json.loads(FIXTURE.read_text())
    results["backfill"]["bare"]["days"]["2026-01-03"]["revenue"] += 5
    path = tmp_path / "disagree.json"
    path.write_text(json.dumps(results))
    lines = report_of(path)
    assert "RESULTS DISAGREE: the pipelines did not produce the same revenue." in lines
    assert any(line.startswith("  - 2026-01-03: bare work revenue 34665.64 / 979 orders") for line in lines), lines
    assert "Targets" not in lines
