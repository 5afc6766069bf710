"""Turn raw measurements into figures, check the pipelines agree, judge the targets, print the
table and write the JSON.

``python -m bench.report RESULTS.json`` prints a results file's full report again (its figures,
agreement and targets computed anew from its raw measurements).

Agreement comes first: speed is only reported when every pipeline (the stages run bare, the
flow, what the flow published, the ``pd.read_sql`` textbook pipeline and the SQL ``GROUP BY``)
found the same revenue (to 0.01) and order count for every partition.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from bench.fingerprint import render_lines as fingerprint_lines
from bench.heal_pass import render_lines as heal_pass_lines
from bench.landed_file import render_lines as landed_file_lines
from bench.landing_latency import render_lines as landing_latency_lines
from bench.plan import TARGET_SIZE, Plan, human
from bench.verify_range import render_lines as verify_range_lines

REVENUE_TOLERANCE = 0.01

TARGET_VS_DAGSTER = 0.5
TARGET_OVERHEAD_S = 0.050
TARGET_SERVER_CPU_S = 0.050
TARGET_BARE_10K_S = 0.080
TARGET_BARE_1M_S = 2.5
TARGET_FLOW_VS_READ_SQL = 0.5
TARGET_RSS_MB = 1000.0  # 1 GB
TARGET_COMMAND_VS_IMPORT = 2.0
"""Issue 13: status, verify and argument errors at most 2x ``python -c 'import prefect'``."""
JUDGED_COMMANDS = {
    "status_embedded": "revenue status, 30 days, embedded default, no server",
    "verify_embedded": "revenue verify, 30 days, embedded default, no server",
    "status_embedded_server_running": "revenue status, 30 days, embedded default, server running",
    "verify_embedded_server_running": "revenue verify, 30 days, embedded default, server running",
    "error_impossible_date": "argument error: an impossible date",
    "error_unknown_config": "argument error: unknown --env, no server",
    "error_unknown_config_server_running": "argument error: unknown --env, server running",
}
REPORTED_COMMANDS = {
    "status_blocks_environment": "revenue status, 30 days, Postgres environment (blocks on the server)",
    "verify_blocks_environment": "revenue verify, 30 days, Postgres environment (blocks on the server)",
}
TARGET_RANGE_GROWTH = 1.10
"""Time per partition of the longest range at most 10% above the shortest's."""
INFO_EXTRACT_SPEEDUP = 5.0
INFO_GATES_SHARE = 0.15
INFO_CACHE_HIT_S = 3.0
LONG_WHOLE_REPEATS = 1
"""Runs of each command in the long whole-process comparison (365 days: minutes each)."""

Results = dict[str, Any]
"""The results file's JSON object: the plan, the machine, and each scenario's raw measurements
under its name (``runner.run`` fills it)."""
Figures = dict[str, Any]
"""What ``compute_figures`` derives from the results: each scenario's figures under its name."""
Record = dict[str, Any]
"""One scenario's raw measurements or figures (a JSON object of the results file)."""


class Target(TypedDict):
    """One target of the issue, judged: PASS (``passed`` true), FAIL, or N/A (``None``: its
    scenario did not run); ``value`` and ``threshold`` are what was compared."""

    target: str
    passed: bool | None
    measured: str
    value: NotRequired[float | dict[str, float] | None]
    threshold: NotRequired[float | dict[str, float]]
    id: NotRequired[str]


class Agreement(TypedDict):
    """Whether every pipeline found the same revenue and order count, partition by partition."""

    ok: bool
    complete: bool
    missing: list[str]
    """``"<day>: <pipeline>"`` of each pipeline run that produced no result."""
    tolerance: float
    problems: list[str]
    pipelines: list[str]
    partitions_checked: int
    values: dict[str, dict[str, dict[str, float | int | None]]]
    """Day -> pipeline run -> its revenue and order count."""


# ---------------------------------------------------------------- figures


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 4)


def _median(entry: Record | None) -> Record | None:
    return entry["median"] if entry else None


def single_figures(entry: Record, rows: int | None) -> dict[str, Any]:
    """Every derived figure of one partition size (seconds, rows/s, MB, ratios)."""
    bare, flow, textbook = _median(entry.get("bare")), _median(entry.get("flow")), _median(entry.get("textbook"))
    sql = entry.get("sql_floor")
    f: dict[str, Any] = {"orders": entry["orders"], "source_rows": rows}
    if bare:
        rows = rows or bare["raw_rows"]
        seconds = bare["seconds"]
        e2e = bare["end_to_end_s"]
        memory = entry["bare"]["memory"]
        f["bare"] = {
            "stage_s": seconds,
            "end_to_end_s": e2e,
            "total_with_fingerprint_s": bare["total_s"],
            "stage_rows_per_s": {k: round(rows / v) if v else None for k, v in seconds.items()},
            "extract_rows_per_s": round(rows / seconds["extract"]) if seconds["extract"] else None,
            "end_to_end_rows_per_s": round(rows / e2e) if e2e else None,
            "gates_share_of_end_to_end": _ratio(seconds["gates"], e2e),
            "stage_share_of_end_to_end": {k: _ratio(seconds[k], e2e) for k in seconds if k != "fingerprint"},
            "samples_end_to_end_s": [r["end_to_end_s"] for r in entry["bare"]["runs"]],
            "peak_rss_mb": memory["end"]["peak_rss_mb"],
            "partition_rss_delta_mb": memory["partition_delta_mb"],
            "rss_before_partition_mb": memory["before_partition"]["rss_mb"],
            "rss_after_imports_mb": memory["after_imports"]["rss_mb"],
            "gx_warm_up_rss_mb": round(memory["after_gx_warm_up"]["rss_mb"] - memory["after_imports"]["rss_mb"], 1),
            "gx_warm_up_s": memory["gx_warm_up_s"],
            "import_s": memory["import_s"],
        }
    if flow:
        memory = entry["flow"]["memory"]
        wall = flow["wall_s"]
        f["flow"] = {
            "wall_s": wall,
            "process_cpu_s": flow.get("process_cpu_s"),
            "api_server_cpu_s": flow.get("api_server_cpu_s"),
            "s3_cpu_s": flow.get("s3_cpu_s"),
            "samples_wall_s": entry["flow"]["wall_samples_s"],
            "rows_per_s": round(rows / wall) if rows and wall else None,
            "task_seconds": entry["flow"].get("task_seconds"),
            "peak_rss_mb": memory["end"]["peak_rss_mb"],
            "partition_rss_delta_mb": memory["partition_delta_mb"],
            "rss_before_partition_mb": memory["before_partition"]["rss_mb"],
            "rss_after_imports_mb": memory["after_imports"]["rss_mb"],
            "gx_warm_up_rss_mb": round(memory["after_gx_warm_up"]["rss_mb"] - memory["after_imports"]["rss_mb"], 1),
        }
        if bare:
            f["flow"]["orchestration_overhead_s"] = round(wall - bare["total_s"], 6)
            f["flow"]["gates_share_of_wall"] = _ratio(bare["seconds"]["gates"], wall)
    if textbook:
        memory = entry["textbook"]["memory"]
        rows_tb = textbook["raw_rows"]
        paired = entry["textbook"]["paired_extract"]
        f["textbook"] = {
            "stage_s": textbook["seconds"],
            "total_s": textbook["total_s"],
            "read_sql_rows_per_s": round(rows_tb / textbook["seconds"]["read_sql"]),
            "samples_read_sql_s": [r["seconds"]["read_sql"] for r in entry["textbook"]["runs"]],
            "peak_rss_mb": memory["end"]["peak_rss_mb"],
            "partition_rss_delta_mb": memory["partition_delta_mb"],
            "paired_extract_s": paired["median_extract_s"],
            "paired_extract_rows_per_s": round(paired["rows"] / paired["median_extract_s"]),
            "paired_speedups": [p["speedup"] for p in paired["pairs"]],
            "paired_speedup": paired["median_speedup"],
        }
    if sql:
        f["sql_floor"] = {"wall_s": sql["wall_s"], "samples_s": sql["wall_samples_s"]}
    read_sql = f.get("textbook", {}).get("stage_s", {}).get("read_sql")
    bare_e2e = f.get("bare", {}).get("end_to_end_s")
    flow_wall = f.get("flow", {}).get("wall_s")
    textbook_total = f.get("textbook", {}).get("total_s")
    sql_wall = f.get("sql_floor", {}).get("wall_s")
    f["ratios"] = {
        "extract_speedup_paired": f.get("textbook", {}).get("paired_speedup"),
        "extract_rows_per_s_vs_read_sql": _ratio(
            f.get("bare", {}).get("extract_rows_per_s"), f.get("textbook", {}).get("read_sql_rows_per_s")
        ),
        "flow_wall_vs_read_sql_extract": _ratio(flow_wall, read_sql),
        "bare_end_to_end_vs_read_sql_extract": _ratio(bare_e2e, read_sql),
        "flow_wall_vs_textbook_total": _ratio(flow_wall, textbook_total),
        "bare_end_to_end_vs_textbook_total": _ratio(bare_e2e, textbook_total),
        "flow_wall_vs_sql_floor": _ratio(flow_wall, sql_wall),
        "bare_end_to_end_vs_sql_floor": _ratio(bare_e2e, sql_wall),
        "textbook_total_vs_sql_floor": _ratio(textbook_total, sql_wall),
    }
    return f


def backfill_figures(backfill: Record | None) -> Record | None:
    if not backfill:
        return None
    first, bare = backfill["first"], backfill["bare"]
    n = first["partitions"]
    return {
        "partitions": n,
        "max_concurrency": backfill["max_concurrency"],
        "first_wall_s": first["wall_s"],
        "first_partitions_per_s": first["partitions_per_s"],
        "bare_wall_s": bare["wall_s"],
        "bare_partitions_per_s": bare["partitions_per_s"],
        "overhead_per_partition_s": backfill["overhead_per_partition_s"],
        "first_vs_bare": _ratio(first["wall_s"], bare["wall_s"]),
        "cpu_s": {
            name: {
                "process": backfill[name].get("process_cpu_s"),
                "api_server": backfill[name].get("api_server_cpu_s"),
                "s3_moto": backfill[name].get("s3_cpu_s"),
            }
            for name in ("first", "cache_hit", "ledger_skip", "bare")
        },
        "cache_hit_wall_s": backfill["cache_hit"]["wall_s"],
        "cache_hit_rows_extracted": backfill["cache_hit"]["rows_extracted"],
        "cache_hit_outcomes": backfill["cache_hit"]["outcomes"],
        "cache_hit_per_partition_s": round(backfill["cache_hit"]["wall_s"] / n, 6),
        "ledger_skip_wall_s": backfill["ledger_skip"]["wall_s"],
        "ledger_skip_rows_extracted": backfill["ledger_skip"]["rows_extracted"],
        "ledger_skip_outcomes": backfill["ledger_skip"]["outcomes"],
        "sql_floor_wall_s": (backfill.get("sql_floor") or {}).get("wall_s"),
        "first_vs_sql_floor": _ratio(first["wall_s"], (backfill.get("sql_floor") or {}).get("wall_s")),
    }


def whole_figures(whole: Record | None) -> Record | None:
    if not whole:
        return None
    ours = [r for r in whole["ours"] if r["returncode"] == 0]
    dagster = [r for r in whole["dagster"] if r["returncode"] == 0]
    days = (dt.date.fromisoformat(whole["last"]) - dt.date.fromisoformat(whole["first"])).days + 1
    return {
        "days": days,
        "ours_wall_s": whole["ours_wall_s"],
        "dagster_wall_s": whole["dagster_wall_s"],
        "import_prefect_wall_s": whole["import_prefect_wall_s"],
        "ours_vs_dagster": _ratio(whole["ours_wall_s"], whole["dagster_wall_s"]),
        "ours_cpu_s": ours[0]["cpu_s"] if ours else None,
        "dagster_cpu_s": dagster[0]["cpu_s"] if dagster else None,
        "ours_api_server_cpu_s": ours[0]["api_server_cpu_s"] if ours else None,
        "walls_s": {k: [r["wall_s"] for r in whole[k]] for k in ("ours", "dagster", "import_prefect")},
        "errors": {k: whole[f"{k}_error"] for k in ("ours", "dagster") if whole.get(f"{k}_error")},
    }


def command_figures(commands: Record | None) -> Record | None:
    if not commands:
        return None
    walls = commands["wall_s"]
    floor = walls.get("import_prefect")
    return {
        "import_prefect_wall_s": floor,
        "wall_s": walls,
        "vs_import_prefect": {name: _ratio(wall, floor) for name, wall in walls.items() if name != "import_prefect"},
        "errors": commands.get("errors", {}),
    }


def multi_run_figures(multi: Record | None) -> Record | None:
    """Single-run vs multi-run: wall and Prefect server CPU per day of each, side by side."""
    if not multi:
        return None
    days = multi["days"]

    def per_day(value: float | None) -> float | None:
        return None if value is None else value / days

    modes = {}
    for mode in ("single", "multi"):
        run = multi[mode]
        modes[mode] = {
            **{k: v for k, v in run.items() if k != "published"},
            "per_day_s": per_day(run["wall_s"]),
            "api_server_cpu_per_day_s": per_day(run["api_server_cpu_s"]),
            "api_database_cpu_per_day_s": per_day(run["api_database_cpu_s"]),
        }
    return {
        "days": days,
        "partitions_per_run": multi["partitions_per_run"],
        "agree": multi["agree"],
        **modes,
        "multi_vs_single": _ratio(multi["multi"]["wall_s"], multi["single"]["wall_s"]),
    }


def scaling_figures(scaling: Record | None) -> Record | None:
    if not scaling:
        return None
    runs = scaling["runs"]
    return {
        "runs": runs,
        "slope_s_per_partition": scaling["slope_s_per_partition"],
        "growth": _ratio(runs[-1]["per_partition_s"], runs[0]["per_partition_s"]),
    }


# ---------------------------------------------------------------- agreement


def _close(a: float, b: float) -> bool:
    return math.isfinite(a) and math.isfinite(b) and abs(a - b) <= REVENUE_TOLERANCE + 1e-9


def check_agreement(results: Results) -> Agreement:
    """Compare revenue and order count of every pipeline, partition by partition."""
    problems: list[str] = []
    compared: dict[str, dict[str, dict[str, float | int | None]]] = {}

    missing: list[str] = []

    def compare(day: str, values: list[tuple[str, float | None, int | None]]) -> None:
        present = [(label, rev, count) for label, rev, count in values if rev is not None]
        missing.extend(f"{day}: {label}" for label, rev, _ in values if rev is None)
        compared[day] = {label: {"revenue": rev, "order_count": count} for label, rev, count in present}
        if len(present) < 2:
            problems.append(f"{day}: fewer than two pipelines produced a revenue ({[v[0] for v in values]})")
            return
        ref_label, ref_rev, ref_count = present[-1]
        for label, rev, count in present:
            if not _close(rev, ref_rev) or count != ref_count:
                problems.append(
                    f"{day}: {label} revenue {rev:.2f} / {count} orders, "
                    f"but {ref_label} {ref_rev:.2f} / {ref_count} orders"
                )

    for entry in results.get("single_partition", {}).values():
        day = entry["partition"]
        values: list[tuple[str, float | None, int | None]] = []
        for key, label in (("bare", "stages bare"), ("flow", "daily_revenue flow")):
            runs = (entry.get(key) or {}).get("runs") or [{"revenue": None, "order_count": None}]
            for i, run in enumerate(runs):
                values.append((f"{label} #{i + 1}", run["revenue"], run["order_count"]))
        published = (entry.get("published") or {}).get(day)
        values.append(
            ("published warehouse row", published and published["revenue"], published and published["order_count"])
        )
        runs = (entry.get("textbook") or {}).get("runs") or [{"revenue": None, "order_count": None}]
        for i, run in enumerate(runs):
            values.append((f"pd.read_sql textbook #{i + 1}", run["revenue"], run["order_count"]))
        sql = ((entry.get("sql_floor") or {}).get("days") or {}).get(day)
        values.append(("SQL GROUP BY", sql and sql["revenue"], sql and sql["order_count"]))
        compare(day, values)

    backfill = results.get("backfill")
    if "backfill" in results and backfill is None:
        missing.append("backfill: every pipeline (the scenario failed)")
    if backfill:
        days = sorted(backfill["first"]["days"])
        for day in days:
            values = []
            for key, label in (("first", "backfill"), ("cache_hit", "cache-hit rerun"), ("bare", "bare work")):
                run = backfill[key]["days"].get(day) or {}
                values.append((label, run.get("revenue"), run.get("order_count")))
            published = (backfill.get("published") or {}).get(day) or {}
            values.append(("published warehouse row", published.get("revenue"), published.get("order_count")))
            sql = ((backfill.get("sql_floor") or {}).get("days") or {}).get(day) or {}
            values.append(("SQL GROUP BY", sql.get("revenue"), sql.get("order_count")))
            compare(day, values)
    for key, label in (("whole_process", "whole process"), ("whole_process_long", "whole process, long range")):
        whole = results.get(key)
        if not whole:
            continue
        published = whole.get("published") or {}
        for i, run in enumerate(whole["dagster"]):
            for day, value in ((run.get("result") or {}).get("days") or {}).items():
                row = published.get(day) or {}
                compare(
                    f"{day} ({label})",
                    [
                        (f"Dagster baseline #{i + 1}", value["revenue"], value["order_count"]),
                        ("published warehouse row (CLI backfill)", row.get("revenue"), row.get("order_count")),
                    ],
                )
    multi = results.get("multi_run")
    if multi:
        for day in sorted(set(multi["single"]["published"]) | set(multi["multi"]["published"])):
            one, many = multi["single"]["published"].get(day) or {}, multi["multi"]["published"].get(day) or {}
            compare(
                f"{day} (single vs multi-run)",
                [
                    ("single-run backfill, published", one.get("revenue"), one.get("order_count")),
                    ("multi-run backfill, published", many.get("revenue"), many.get("order_count")),
                ],
            )
    pipelines = sorted({label.split(" #")[0] for day in compared.values() for label in day})
    return {
        "ok": not problems,
        "complete": not missing,
        "missing": missing,
        "tolerance": REVENUE_TOLERANCE,
        "problems": problems,
        "pipelines": pipelines,
        "partitions_checked": len(compared),
        "values": compared,
    }


# ---------------------------------------------------------------- targets


def evaluate_targets(figures: Figures, plan: Plan) -> list[Target]:
    """The targets of the issue, in its order; each PASS / FAIL / N/A with what was measured."""
    days = f"{plan.backfill_days} days x {human(plan.backfill_orders_per_day)}"
    singles = figures["single_partition"]
    return [
        _whole_process_target(figures.get("whole_process"), days),
        *_backfill_targets(figures.get("backfill"), days),
        *(
            _bare_target(singles, size, limit)
            for size, limit in ((10_000, TARGET_BARE_10K_S), (1_000_000, TARGET_BARE_1M_S))
        ),
        _flow_target(singles.get(str(TARGET_SIZE)) or {}),
        _range_growth_target(figures.get("scaling")),
        _rows_growth_target(singles),
        *(_command_target(figures.get("commands"), name, label) for name, label in JUDGED_COMMANDS.items()),
    ]


def _target(
    name: str,
    passed: bool | None,
    measured: str,
    judged: tuple[float | dict[str, float] | None, float | dict[str, float]] | None = None,
    target_id: str | None = None,
) -> Target:
    """One target; ``judged`` is the (value, threshold) compared, when it was measured."""
    target: Target = {"target": name, "passed": passed, "measured": measured}
    if judged is not None:
        target["value"], target["threshold"] = judged
    if target_id is not None:
        target["id"] = target_id
    return target


def _whole_process_target(whole: Record | None, days: str) -> Target:
    if whole and whole["ours_vs_dagster"] is not None:
        r = whole["ours_vs_dagster"]
        return _target(
            f"forced backfill of {days}, whole process (CLI start to exit) "
            f"<= {TARGET_VS_DAGSTER:g}x the Dagster baseline",
            r <= TARGET_VS_DAGSTER,
            f"{r:.2f}x (ours {secs(whole['ours_wall_s'])} vs Dagster {secs(whole['dagster_wall_s'])})",
            (r, TARGET_VS_DAGSTER),
            "whole_process",
        )
    return _target(
        f"forced backfill of {days}, whole process <= {TARGET_VS_DAGSTER:g}x the Dagster baseline",
        None,
        "not run" if not whole else f"failed: {whole['errors']}",
        target_id="whole_process",
    )


def _backfill_targets(backfill: Record | None, days: str) -> list[Target]:
    """Orchestration overhead and Prefect API server CPU per partition of the backfill."""
    if not backfill:
        return [
            _target(f"orchestration overhead < {TARGET_OVERHEAD_S * 1000:.0f} ms per partition", None, "not run"),
            _target(
                f"Prefect API server CPU < {TARGET_SERVER_CPU_S * 1000:.0f} ms per computed partition", None, "not run"
            ),
        ]
    overhead = backfill["overhead_per_partition_s"]
    server = backfill["cpu_s"]["first"]["api_server"]
    per = None if server is None else server / backfill["partitions"]
    return [
        _target(
            f"orchestration overhead < {TARGET_OVERHEAD_S * 1000:.0f} ms per partition ({days})",
            overhead < TARGET_OVERHEAD_S,
            f"{overhead * 1000:.0f} ms ((flow {secs(backfill['first_wall_s'])} - bare "
            f"{secs(backfill['bare_wall_s'])}) / {backfill['partitions']})",
            (overhead, TARGET_OVERHEAD_S),
        ),
        _target(
            f"Prefect API server CPU < {TARGET_SERVER_CPU_S * 1000:.0f} ms per computed partition ({days})",
            None if per is None else per < TARGET_SERVER_CPU_S,
            "n/a (server process not found)"
            if per is None
            else f"{per * 1000:.0f} ms ({server:.2f} s of server CPU for {backfill['partitions']} partitions)",
            (per, TARGET_SERVER_CPU_S),
        ),
    ]


def _bare_target(singles: Figures, size: int, limit: float) -> Target:
    bare = (singles.get(str(size)) or {}).get("bare")
    return _target(
        f"bare work of a {human(size)}-order partition < {secs(limit)}",
        None if not bare else bare["end_to_end_s"] < limit,
        "not run"
        if not bare
        else f"{secs(bare['end_to_end_s'])} (extract {secs(bare['stage_s']['extract'])}, clean "
        f"{secs(bare['stage_s']['clean'])}, gates {secs(bare['stage_s']['gates'])}, aggregate "
        f"{secs(bare['stage_s']['aggregate'])}, publish {secs(bare['stage_s']['publish'])})",
        (bare and bare["end_to_end_s"], limit),
    )


def _flow_target(big: Record) -> Target:
    """The 1M-order flow against the ``pd.read_sql`` extract alone, and its peak RSS."""
    name = f"1M-order flow < {TARGET_FLOW_VS_READ_SQL:g}x the pd.read_sql extract alone, peak RSS < 1 GB"
    flow, textbook = big.get("flow"), big.get("textbook")
    if not (flow and textbook):
        return _target(name, None, "not run")
    read_sql = textbook["stage_s"]["read_sql"]
    r = flow["wall_s"] / read_sql
    small = flow["peak_rss_mb"] < TARGET_RSS_MB
    return _target(
        name,
        r < TARGET_FLOW_VS_READ_SQL and small,
        f"{r:.2f}x (flow {secs(flow['wall_s'])} vs read_sql {secs(read_sql)}); peak RSS "
        f"{flow['peak_rss_mb']:.0f} MB{'' if small else ': OVER'}",
        (
            {"ratio": r, "peak_rss_mb": flow["peak_rss_mb"]},
            {"ratio": TARGET_FLOW_VS_READ_SQL, "peak_rss_mb": TARGET_RSS_MB},
        ),
    )


def _range_growth_target(scaling: Record | None) -> Target:
    if not (scaling and scaling["growth"] is not None):
        return _target("time per partition does not grow with the range", None, "not run")
    runs = scaling["runs"]
    return _target(
        f"time per partition does not grow with the range ({', '.join(str(r['partitions']) for r in runs)} "
        f"partitions; longest <= {TARGET_RANGE_GROWTH:.2f}x shortest)",
        scaling["growth"] <= TARGET_RANGE_GROWTH,
        ", ".join(f"{r['partitions']}: {secs(r['per_partition_s'])}" for r in runs)
        + f" per partition ({scaling['growth']:.2f}x); slope {secs(scaling['slope_s_per_partition'])} "
        "per extra partition",
        (scaling["growth"], TARGET_RANGE_GROWTH),
    )


def _rows_growth_target(singles: Figures) -> Target:
    """Time from the smallest size to the largest, against their rows."""
    sized = [(int(size), f["bare"]["end_to_end_s"], f["source_rows"]) for size, f in singles.items() if f.get("bare")]
    if len(sized) < 2:
        return _target("time grows no faster than rows", None, "not run")
    (small_n, small_t, small_rows), (big_n, big_t, big_rows) = sized[0], sized[-1]
    time_ratio, rows_ratio = big_t / small_t, big_rows / small_rows
    return _target(
        f"time grows no faster than rows ({', '.join(human(n) for n, _, _ in sized)} orders)",
        time_ratio <= rows_ratio,
        f"{human(small_n)} -> {human(big_n)}: rows x{rows_ratio:.0f}, time x{time_ratio:.1f} ("
        + ", ".join(f"{human(n)} {secs(t)}" for n, t, _ in sized)
        + ")",
        (time_ratio, rows_ratio),
    )


def _command_target(commands: Record | None, name: str, label: str) -> Target:
    r: float | None = commands["vs_import_prefect"].get(name) if commands else None
    return _target(
        f"{label} <= {TARGET_COMMAND_VS_IMPORT:g}x import prefect",
        None if r is None else r <= TARGET_COMMAND_VS_IMPORT,
        "not run"
        if not commands
        else (
            f"failed: {commands['errors'][name]}"
            if name in commands["errors"]
            else f"{r:.2f}x ({secs(commands['wall_s'][name])} vs {secs(commands['import_prefect_wall_s'])})"
        ),
        (r, TARGET_COMMAND_VS_IMPORT),
    )


def info_lines(figures: Figures, plan: Plan) -> list[str]:
    """Figures the earlier targets judged, kept for comparison (not targets any more)."""
    lines = []
    size = plan.largest
    single = figures["single_partition"].get(str(size), {})
    speedup = single.get("ratios", {}).get("extract_speedup_paired")
    if speedup is not None:
        lines.append(
            f"extract speed vs pd.read_sql ({human(size)}, paired in one process): {speedup:.2f}x "
            f"(earlier target >= {INFO_EXTRACT_SPEEDUP:g}x)"
        )
    bare = single.get("bare")
    if bare:
        lines.append(
            f"quality gates share of the bare partition ({human(size)}): "
            f"{bare['gates_share_of_end_to_end']:.1%} (earlier target < {INFO_GATES_SHARE:.0%})"
        )
    backfill = figures.get("backfill")
    if backfill:
        hits = backfill["cache_hit_outcomes"].get("cache hit", 0)
        lines.append(
            f"cache-hit rerun of {backfill['partitions']} days: {secs(backfill['cache_hit_wall_s'])}, "
            f"{hits}/{backfill['partitions']} cache hits, {backfill['cache_hit_rows_extracted']} order "
            f"rows read (earlier target < {INFO_CACHE_HIT_S:g} s)"
        )
        lines.append(
            f"default rerun, ledger skip: {secs(backfill['ledger_skip_wall_s'])}, "
            f"{backfill['ledger_skip_rows_extracted']} order rows read"
        )
    lines.extend(_floor_info(figures.get("prefect_floor")))
    whole = figures.get("whole_process")
    if whole and whole["import_prefect_wall_s"]:
        lines.append(
            f"python -c 'import prefect': {secs(whole['import_prefect_wall_s'])} (the floor of any Prefect command)"
        )
    return lines


def _floor_info(floor: Record | None) -> list[str]:
    """Prefect's floor: wall and API server CPU per task run that does nothing."""
    lines: list[str] = []
    if floor:
        for name, label in (
            ("bare_tasks", "task runs doing nothing"),
            ("with_extras", "the same, each with an artifact and 4 asset events"),
        ):
            run = floor[name]
            server = run["api_server_cpu_per_task_s"]
            lines.append(
                f"Prefect's floor, {floor['tasks']} {label}: {secs(run['wall_per_task_s'])} wall and "
                f"{'n/a' if server is None else secs(server)} of API server CPU per task run"
            )
    return lines


# ---------------------------------------------------------------- rendering


def secs(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) < 1:
        return f"{value * 1000:.0f} ms"
    if abs(value) < 100:
        return f"{value:.2f} s"
    return f"{value:.0f} s"


def rate(value: float | None) -> str:
    if not value:
        return "-"
    if value >= 1e6:
        return f"{value / 1e6:.2f}M/s"
    if value >= 1e3:
        return f"{value / 1e3:.0f}k/s"
    return f"{value:.0f}/s"


def ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def cpu_triple(run: Record) -> str:
    """``process / API server / S3`` CPU seconds of a run, e.g. ``10.9 / 1.0 / 3.2 s``."""
    values = [run.get("process_cpu_s"), run.get("api_server_cpu_s"), run.get("s3_cpu_s")]
    return " / ".join("?" if v is None else f"{v:.1f}" for v in values) + " s"


def mb(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} MB"


def table(headers: list[str], rows: list[list[str]], align: str | None = None) -> list[str]:
    align = align or "l" + "r" * (len(headers) - 1)
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            str(c).ljust(w) if a == "l" else str(c).rjust(w) for c, w, a in zip(cells, widths, align)
        ).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def machine_line(results: Results) -> list[str]:
    m = results["machine"]
    v = m["versions"]
    load = m.get("load_average_at_start")
    end = m.get("load_average_at_end")
    return [
        f"machine: {m['nproc']} cores ({m.get('cpu_model') or '?'}), {m.get('memory_total_gib')} GiB RAM, "
        f"{m['platform']}",
        f"versions: Python {m['python']}, prefect {v.get('prefect')}, pandas {v.get('pandas')}, "
        f"pyarrow {v.get('pyarrow')}, great-expectations {v.get('great-expectations')}, "
        f"SQLAlchemy {v.get('sqlalchemy')}, psycopg {v.get('psycopg')}, "
        f"Postgres {m.get('postgres', '?')} ({results.get('services', {}).get('postgres', '?')}), moto {v.get('moto')}",
        f"load average (1/5/15 min): {load} at start"
        + ("" if end is None else f", {end} at end")
        + " (other work on the machine shows here)",
    ]


def single_lines(results: Results, figures: Figures, plan: Plan) -> list[str]:
    """The single-partition tables (stages bare, the flow, the baselines) of the sizes in ``figures``."""
    singles = figures["single_partition"]
    if not singles:
        return []
    return [*_bare_stage_lines(results, singles), "", *_flow_lines(singles), "", *_baseline_lines(singles), ""]


def _bare_stage_lines(results: Results, singles: Figures) -> list[str]:
    """Each size's stages run bare: seconds per stage, rows/s, the gates' share, memory."""
    rows = []
    for size, f in singles.items():
        b = f.get("bare")
        if not b:
            rows.append([human(int(size)), f"{f['source_rows'] or 0:,}"] + ["failed"] + [""] * 10)
            continue
        s = b["stage_s"]
        rows.append(
            [
                human(int(size)),
                f"{f['source_rows']:,}",
                f"x{results['single_partition'][size]['repeats']}",
                secs(s["fingerprint"]),
                secs(s["extract"]),
                secs(s["clean"]),
                secs(s["gates"]),
                secs(s["aggregate"]),
                secs(s["publish"]),
                secs(b["end_to_end_s"]),
                rate(b["extract_rows_per_s"]),
                rate(b["end_to_end_rows_per_s"]),
                f"{b['gates_share_of_end_to_end']:.0%}",
                f"{mb(b['peak_rss_mb'])} (+{b['partition_rss_delta_mb']:.0f})",
            ]
        )
    headers = [
        "orders",
        "rows",
        "runs",
        "fingerprint",
        "extract",
        "clean",
        "gates",
        "aggregate",
        "publish",
        "end to end",
        "extract rows/s",
        "e2e rows/s",
        "gates %",
        "peak RSS (+partition)",
    ]
    return [
        "Single partition: stages run bare, same functions as the tasks (median run; GX warmed before timing)",
        *table(headers, rows),
    ]


def _flow_lines(singles: Figures) -> list[str]:
    """Each size through the real flow: wall, engine overhead, CPU, memory, the slowest task runs."""
    rows = []
    for size, f in singles.items():
        fl, b = f.get("flow"), f.get("bare") or {}
        if not fl:
            rows.append([human(int(size)), "failed"])
            continue
        tasks = fl.get("task_seconds") or {}
        top = sorted(
            ((k, v) for k, v in tasks.items() if k not in ("partition",) and isinstance(v, float)),
            key=lambda kv: -kv[1],
        )[:3]
        rows.append(
            [
                human(int(size)),
                secs(fl["wall_s"]),
                rate(fl["rows_per_s"]),
                secs(b.get("total_with_fingerprint_s")),
                secs(fl.get("orchestration_overhead_s")),
                cpu_triple(fl),
                f"{mb(fl['peak_rss_mb'])} (+{fl['partition_rss_delta_mb']:.0f})",
                ", ".join(f"{k} {secs(v)}" for k, v in top),
            ]
        )
    headers = [
        "orders",
        "flow wall",
        "rows/s",
        "bare (incl. fingerprint)",
        "engine overhead",
        "CPU flow/API/S3",
        "peak RSS (+partition)",
        "slowest task runs",
    ]
    out = [
        "Single partition: the real daily_revenue flow through Prefect's engine (force=True)",
        *table(headers, rows, "lrrrrrrl"),
        "  engine overhead = flow wall - bare; task runs exclude persisting their results "
        "(written on commit, after the run ends)",
    ]
    first = next((f for f in singles.values() if f.get("bare")), None)
    if first:
        b = first["bare"]
        out.append(
            f"  memory: a scenario process is ~{b['rss_after_imports_mb']:.0f} MB after importing "
            f"prefect + the pipeline; warming GX adds ~{b['gx_warm_up_rss_mb']:.0f} MB "
            f"(and {secs(b['gx_warm_up_s'])}), paid once per process, before the clock starts."
        )
    return out


def _baseline_lines(singles: Figures) -> list[str]:
    """Each size's ``pd.read_sql`` textbook pipeline and SQL ``GROUP BY``, and the ratios to them."""
    rows = []
    for size, f in singles.items():
        t, r = f.get("textbook") or {}, f["ratios"]
        sql = (f.get("sql_floor") or {}).get("wall_s")
        rows.append(
            [
                human(int(size)),
                secs(t.get("stage_s", {}).get("read_sql")),
                rate(t.get("read_sql_rows_per_s")),
                secs(t.get("paired_extract_s")),
                ratio(r["extract_speedup_paired"]),
                secs(t.get("total_s")),
                mb(t.get("peak_rss_mb")),
                secs(sql),
                ratio(r["flow_wall_vs_read_sql_extract"]),
                ratio(r["bare_end_to_end_vs_textbook_total"]),
                ratio(r["flow_wall_vs_textbook_total"]),
                ratio(r["flow_wall_vs_sql_floor"]),
            ]
        )
    headers = [
        "orders",
        "read_sql",
        "read_sql rows/s",
        "our extract",
        "extract speedup",
        "textbook total",
        "textbook RSS",
        "SQL GROUP BY",
        "flow/read_sql",
        "bare/textbook",
        "flow/textbook",
        "flow/SQL",
    ]
    return [
        "Baselines on the same rows: pd.read_sql textbook pipeline (read_sql, dropna, "
        "drop_duplicates, groupby, to_sql) and Postgres GROUP BY",
        *table(headers, rows),
        "  our extract = OrdersSource.extract in the same process, alternating with read_sql; "
        "speedup = its rows/s over read_sql's (median pair; higher is better)",
        "  a/b = wall of a over wall of b (lower is better); bare = the stage table's end to end",
    ]


def backfill_lines(results: Results, figures: Figures, plan: Plan) -> list[str]:
    """The backfill table: first run, bare work, cache-hit and ledger-skip reruns."""
    out: list[str] = []
    bf = figures.get("backfill")
    raw = results.get("backfill")
    if bf and raw:
        out.append(
            f"Backfill: {bf['partitions']} days x {human(plan.backfill_orders_per_day)} orders, "
            f"max_concurrency {bf['max_concurrency']}, one flow run, partitions as tasks"
        )

        def outcomes(tally: dict[str, int]) -> str:
            return ", ".join(f"{n} {k}" for k, n in sorted(tally.items())) or "-"

        def cpu(name: str) -> list[str]:
            return [cpu_triple(raw[name])]

        rows = [
            [
                "first run (nothing cached)",
                secs(bf["first_wall_s"]),
                f"{bf['first_partitions_per_s']:.2f}",
                *cpu("first"),
                outcomes(raw["first"]["outcomes"]),
                f"{raw['first']['rows_extracted']:,}",
            ],
            [
                "same partitions' work, bare",
                secs(bf["bare_wall_s"]),
                f"{bf['bare_partitions_per_s']:.2f}",
                *cpu("bare"),
                "-",
                f"{raw['bare']['rows_extracted']:,}",
            ],
            [
                "cache-hit rerun (skip_up_to_date=False)",
                secs(bf["cache_hit_wall_s"]),
                f"{raw['cache_hit']['partitions_per_s']:.2f}",
                *cpu("cache_hit"),
                outcomes(bf["cache_hit_outcomes"]),
                f"{bf['cache_hit_rows_extracted']:,}",
            ],
            [
                "default rerun (ledger skip)",
                secs(bf["ledger_skip_wall_s"]),
                f"{raw['ledger_skip']['partitions_per_s']:.2f}",
                *cpu("ledger_skip"),
                outcomes(bf["ledger_skip_outcomes"]),
                f"{bf['ledger_skip_rows_extracted']:,}",
            ],
            ["SQL GROUP BY over the range", secs(bf["sql_floor_wall_s"]), "-", "-", "-", "0"],
        ]
        out.extend(
            table(["run", "wall", "partitions/s", "CPU process/API/S3", "outcomes", "order rows read"], rows, "lrrrll")
        )
        out.append(
            f"  orchestration overhead per partition: {secs(bf['overhead_per_partition_s'])} "
            f"(first run / bare = {ratio(bf['first_vs_bare'])}); cache hit per partition: "
            f"{secs(bf['cache_hit_per_partition_s'])}"
        )
        out.append(
            "  order rows read = rows returned by OrdersSource.extract in the process "
            "(0 proves a rerun read no order rows)"
        )
        out.append("")
    return out


def whole_lines(results: Results, figures: Figures, plan: Plan) -> list[str]:
    """The whole-process table: the Dagster baseline vs our CLI backfill over the backfill range."""
    return _whole_table(figures.get("whole_process"), plan, plan.whole_repeats)


def whole_long_lines(results: Results, figures: Figures, plan: Plan) -> list[str]:
    """The same comparison over the longest scaling range (365 days in the full run)."""
    return _whole_table(figures.get("whole_process_long"), plan, LONG_WHOLE_REPEATS)


def _whole_table(whole: Record | None, plan: Plan, repeats: int) -> list[str]:
    out: list[str] = []
    if whole:
        out.append(
            f"Whole process, start to exit: forced backfill of {whole['days']} days x "
            f"{human(plan.backfill_orders_per_day)} orders ("
            + (f"median of {repeats}" if repeats > 1 else "one run each")
            + ")"
        )
        rows = [
            [
                "revenue backfill --force (CLI, Prefect API running)",
                secs(whole["ours_wall_s"]),
                f"{whole['ours_cpu_s'] or 0:.1f} s",
                "-" if whole["ours_api_server_cpu_s"] is None else f"{whole['ours_api_server_cpu_s']:.1f} s",
            ],
            [
                "Dagster: materialize per partition, on-disk instance",
                secs(whole["dagster_wall_s"]),
                f"{whole['dagster_cpu_s'] or 0:.1f} s",
                "-",
            ],
            ["python -c 'import prefect'", secs(whole["import_prefect_wall_s"]), "-", "-"],
        ]
        out.extend(table(["command", "wall", "CPU", "API server CPU"], rows, "lrrr"))
        out.append(f"  ours / Dagster = {ratio(whole['ours_vs_dagster'])}")
        out.append("")
    return out


def scaling_lines(results: Results, figures: Figures, plan: Plan) -> list[str]:
    """Forced backfills of growing ranges: time per partition and the slope."""
    out: list[str] = []
    scaling = figures.get("scaling")
    if scaling:
        out.append(
            f"Scaling with the range: forced backfills of {human(plan.backfill_orders_per_day)} orders a day, "
            "one flow run each"
        )
        rows = [
            [
                str(r["partitions"]),
                secs(r["wall_s"]),
                secs(r["per_partition_s"]),
                secs(r["process_cpu_per_partition_s"]),
                secs(r["api_server_cpu_per_partition_s"]),
                str(r["published"]),
            ]
            for r in scaling["runs"]
        ]
        out.extend(
            table(
                [
                    "partitions",
                    "wall",
                    "per partition",
                    "process CPU / partition",
                    "API server CPU / partition",
                    "published",
                ],
                rows,
            )
        )
        out.append(
            f"  slope: {secs(scaling['slope_s_per_partition'])} per extra partition; longest range's time "
            f"per partition / shortest's = {ratio(scaling['growth'])}"
        )
        out.append("")
    return out


def multi_run_lines(results: Results, figures: Figures, plan: Plan) -> list[str]:
    """Single-run vs multi-run backfill through a live server and two workers."""
    out: list[str] = []
    multi = figures.get("multi_run")
    if multi:
        out.append(
            f"Single-run vs multi-run backfill: forced {multi['days']} days x "
            f"{human(plan.backfill_orders_per_day)} orders, `backfill/range` deployment runs on a Prefect server "
            "on Postgres with two process workers (one 2-core machine: the workers share the cores)"
        )

        def cpu_cell(value: float | None, per_day: float | None) -> str:
            return "-" if value is None else f"{value:.1f} s ({secs(per_day)}/day)"

        rows = [
            [
                label,
                secs(m["wall_s"]),
                secs(m["per_day_s"]),
                str(m["flow_runs"]),
                ", ".join(m["workers"]),
                cpu_cell(m["api_server_cpu_s"], m["api_server_cpu_per_day_s"]),
                cpu_cell(m["api_database_cpu_s"], m["api_database_cpu_per_day_s"]),
            ]
            for label, m in (
                (f"single run, max_concurrency {multi['single']['parameters']['max_concurrency']}", multi["single"]),
                (
                    f"multi-run, {multi['partitions_per_run']} days per run, max_concurrency "
                    f"{multi['multi']['parameters']['max_concurrency']}",
                    multi["multi"],
                ),
            )
        ]
        out.extend(
            table(
                ["mode", "wall", "per day", "flow runs", "workers", "API server CPU", "API database CPU"],
                rows,
                "lrrrlrr",
            )
        )
        out.append(
            f"  multi / single wall = {ratio(multi['multi_vs_single'])}; chunk run walls: "
            f"{', '.join(secs(w) for w in multi['multi']['chunk_walls_s'])}; both modes published the same "
            f"numbers: {'yes' if multi['agree'] else 'NO'}"
        )
        out.append("")
    return out


def command_lines(results: Results, figures: Figures, plan: Plan) -> list[str]:
    """``revenue status`` / ``verify`` and argument errors vs ``import prefect``."""
    out: list[str] = []
    commands = figures.get("commands")
    if commands:
        out.append("Commands, whole process (median; each in a fresh interpreter)")
        rows = [["python -c 'import prefect'", secs(commands["import_prefect_wall_s"]), "1.00x"]]
        for name, label in {**JUDGED_COMMANDS, **REPORTED_COMMANDS}.items():
            if name not in commands["wall_s"]:
                continue  # not measured (--judged leaves the reported ones out)
            rows.append([label, secs(commands["wall_s"].get(name)), ratio(commands["vs_import_prefect"].get(name))])
        out.extend(table(["command", "wall", "x import prefect"], rows))
        out.append("")
    return out


def header_lines(results: Results) -> list[str]:
    """The title, the machine, the versions and the data loaded."""
    out = [f"Daily-revenue pipeline benchmark, {results['started_at']}", *machine_line(results)]
    data = results.get("data") or {}
    if data:
        out.append(
            f"data: {data['total_rows']:,} order rows in Postgres ({data['table_bytes'] / 1e6:.0f} MB), "
            f"generated in {secs(data['generate_s'])}, COPY-loaded in {secs(data['copy_s'])}"
        )
    out.append("")
    return out


def floor_lines(results: Results, figures: Figures, plan: Plan) -> list[str]:
    """Prefect's floor (in the full report these are ``(info)`` lines under the targets)."""
    return (
        [*(f"(info) {line}" for line in _floor_info(figures.get("prefect_floor"))), ""]
        if figures.get("prefect_floor")
        else []
    )


Section = Callable[[Results, Figures, Plan], list[str]]
SECTIONS: dict[str, Section] = {
    "single": single_lines,
    "fingerprint": lambda results, figures, plan: fingerprint_lines(results.get("fingerprint")),
    "backfill": backfill_lines,
    "whole": whole_lines,
    "commands": command_lines,
    "floor": floor_lines,
    "scaling": scaling_lines,
    "whole_long": whole_long_lines,
    "verify_range": lambda results, figures, plan: verify_range_lines(results.get("verify_range")),
    "heal_pass": lambda results, figures, plan: heal_pass_lines(results.get("heal_pass")),
    "multi_run": multi_run_lines,
    "landed_file": lambda results, figures, plan: landed_file_lines(results.get("landed_file")),
    "landing_latency": lambda results, figures, plan: landing_latency_lines(results.get("landing_latency")),
}
"""Each scenario's report lines, from the results and figures measured so far: printed right
after the scenario, and (in ``REPORT_ORDER``) in the full report at the end."""
REPORT_ORDER = (
    "single",
    "backfill",
    "whole",
    "whole_long",
    "scaling",
    "multi_run",
    "commands",
    "fingerprint",
    "verify_range",
    "heal_pass",
    "landed_file",
    "landing_latency",
)
"""The full report's sections, in order (Prefect's floor is among the ``(info)`` lines)."""


def render(results: Results, figures: Figures, targets: list[Target], plan: Plan) -> str:
    """The full report: the header, each section of ``REPORT_ORDER``, the agreement check, the
    targets and the ``(info)`` figures."""
    return "\n".join(
        [
            *header_lines(results),
            *(line for name in REPORT_ORDER for line in SECTIONS[name](results, figures, plan)),
            *agreement_lines(results["agreement"]),
            *target_lines(targets, figures.get("whole_process_long"), plan),
            *(f"  (info) {line}" for line in info_lines(figures, plan)),
        ]
    )


def agreement_lines(agreement: Agreement) -> list[str]:
    """The pipelines that agree, on how many partitions; the runs that gave no result."""
    out = [
        f"Results agree: {', '.join(agreement['pipelines'])} -> same revenue (to "
        f"{agreement['tolerance']}) and order count on all {agreement['partitions_checked']} partitions"
    ]
    if not agreement["complete"]:
        out.append(
            f"  INCOMPLETE: no result from {len(agreement['missing'])} pipeline run(s) that failed: "
            + "; ".join(agreement["missing"][:6])
            + (" ..." if len(agreement["missing"]) > 6 else "")
        )
    out.append("")
    return out


def target_lines(targets: list[Target], long: Record | None, plan: Plan) -> list[str]:
    """Each target as PASS / FAIL / N/A with what was measured; the long range's whole-process
    ratio (``long``) under the judged one."""
    out = ["Targets"]
    for t in targets:
        mark = {True: "PASS", False: "FAIL", None: "N/A "}[t["passed"]]
        out.append(f"  [{mark}] {t['target']}: {t['measured']}")
        if t.get("id") == "whole_process" and long:
            out.append(f"         {long_ratio_line(long, plan)}")
    return out


def long_ratio_line(long: Record, plan: Plan) -> str:
    """The long range's whole-process ratio, reported beside the judged 30-day one."""
    return f"the same over {long['days']} days x {human(plan.backfill_orders_per_day)} (reported, not judged): " + (
        f"{long['ours_vs_dagster']:.2f}x (ours {secs(long['ours_wall_s'])} vs Dagster {secs(long['dagster_wall_s'])})"
        if long["ours_vs_dagster"] is not None
        else "failed: "
        + "; ".join(f"{k}: {(v.strip().splitlines() or [''])[-1][:200]}" for k, v in long["errors"].items())
        + " (the JSON has the rest)"
    )


def render_disagreement(agreement: Agreement) -> str:
    lines = [
        "",
        "!" * 78,
        "RESULTS DISAGREE: the pipelines did not produce the same revenue.",
        "Speed is not reported until they do. Differences:",
    ]
    lines += [f"  - {p}" for p in agreement["problems"]]
    lines += ["!" * 78, ""]
    return "\n".join(lines)


# ---------------------------------------------------------------- progress and finish


FIGURES: dict[str, Callable[[Any], Any]] = {
    "backfill": backfill_figures,
    "whole_process": whole_figures,
    "whole_process_long": whole_figures,
    "scaling": scaling_figures,
    "multi_run": multi_run_figures,
    "commands": command_figures,
    "prefect_floor": lambda floor: floor,
}
"""Derived figures of each result that has them (the rest render from their raw results)."""


def compute_figures(results: Results, errors: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """Every derived figure of the results measured so far; a result whose figures cannot be
    computed gets ``None`` (and, given ``errors``, an entry there)."""
    rows_by_day = (results.get("data") or {}).get("rows_by_day", {})
    figures: dict[str, Any] = {
        "single_partition": {
            size: single_figures(entry, rows_by_day.get(entry["partition"]))
            for size, entry in results.get("single_partition", {}).items()
        },
        "backfill": None,
    }
    for name, make in FIGURES.items():
        try:
            figures[name] = make(results.get(name))
        except (KeyError, TypeError, IndexError) as error:
            figures[name] = None
            if errors is not None:
                errors.append({"scenario": f"{name} figures", "error": repr(error)})
    return figures


def write_results(results: Results, path: Path) -> None:
    """Write the JSON atomically (a temporary file in the same folder, then ``os.replace``): a
    reader, or a run killed at any moment, finds the previous complete file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".json.tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps(results, indent=2, default=str) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def shown_path(path: Path) -> Path:
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def scenario_done(
    results: Results, plan: Plan, path: Path, scenario: str, section: str | None = None, size: int | None = None
) -> None:
    """After a scenario: record it as done, rewrite the results file with every figure so far
    (``"finished": false``), and print its report lines (``section``, default the scenario's
    name in ``SECTIONS``; ``"header"`` prints the title, machine and data lines). A single
    partition's scenario is ``single <size>`` (``size`` given): its lines are the
    single-partition tables for that size alone. Speeds are printed only while every pipeline
    so far agrees."""
    results.setdefault("scenarios_done", []).append(scenario)
    results["finished"] = False
    figures = compute_figures(results)
    results["figures"] = figures
    results["agreement"] = check_agreement(results)
    write_results(results, path)
    section = section or scenario.split(" ")[0]
    if section == "header":
        lines = header_lines(results)
    elif not results["agreement"]["ok"]:
        print(f"{scenario}: measured, but the pipelines disagree so far (see the end); no speed shown", flush=True)
        return
    else:
        if size is not None:
            figures = {**figures, "single_partition": {str(size): figures["single_partition"][str(size)]}}
        lines = SECTIONS[section](results, figures, plan)
    if lines:
        print("\n".join(lines), flush=True)


def finish(results: Results, plan: Plan, path: Path) -> int:
    figures = compute_figures(results, results["errors"])
    results["figures"] = figures
    results["agreement"] = check_agreement(results)
    results["targets"] = evaluate_targets(figures, plan) if results["agreement"]["ok"] else []
    results["finished"] = True
    write_results(results, path)
    shown = shown_path(path)

    if not results["agreement"]["ok"]:
        print(render_disagreement(results["agreement"]), file=sys.stderr)
        print(f"Results (with every figure, for debugging): {shown}")
        return 2
    print()
    print(render(results, figures, results["targets"], plan))
    print()
    if results["errors"]:
        print("Scenarios that failed (see the JSON for tracebacks):")
        for error in results["errors"]:
            print(f"  - {error['scenario']}: {error['error'].splitlines()[0][:300]}")
    failed = [t for t in results["targets"] if t["passed"] is False]
    met = [t for t in results["targets"] if t["passed"] is True]
    unjudged = len(results["targets"]) - len(failed) - len(met)
    print(
        f"{len(met)} of {len(results['targets'])} targets met"
        + (f", {unjudged} not measured" if unjudged else "")
        + f"; benchmark took {secs(results['wall_s'])}. Every figure: {shown}"
    )
    if results["errors"]:
        return 3
    return 1 if plan.strict and failed else 0


def render_file(path: Path) -> str:
    """The full report of a results file, as the run that wrote it printed it at its end (or
    the disagreement, if the pipelines disagree)."""
    results = json.loads(path.read_text())
    plan = Plan.from_dict(results["plan"])
    figures = compute_figures(results)
    results["agreement"] = check_agreement(results)
    if not results["agreement"]["ok"]:
        return render_disagreement(results["agreement"])
    return render(results, figures, evaluate_targets(figures, plan), plan)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description="Print a results file's report again.")
    parser.add_argument("results", type=Path, help="a results file, e.g. bench/results/<UTC timestamp>.json")
    print(render_file(parser.parse_args(argv).results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
