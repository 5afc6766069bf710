"""One benchmark run: start the services, load the data, run every scenario, report."""

from __future__ import annotations

import datetime as dt
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from bench.plan import Plan, human

T = TypeVar("T")


class Progress:
    """Progress lines on stderr, with the time since the run started."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def __call__(self, message: str) -> None:
        elapsed = time.perf_counter() - self.started
        print(f"[{int(elapsed // 60):2d}:{elapsed % 60:04.1f}] {message}", file=sys.stderr, flush=True)


def read_published(pg_url: str, first: dt.date, last: dt.date) -> dict[str, dict[str, Any]]:
    """The warehouse's ``daily_revenue`` rows of ``[first, last]``."""
    import sqlalchemy as sa

    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT order_date, revenue, order_count FROM analytics.daily_revenue "
                    "WHERE order_date BETWEEN :a AND :b ORDER BY order_date"
                ),
                {"a": first, "b": last},
            ).all()
    finally:
        engine.dispose()
    return {r.order_date.isoformat(): {"revenue": float(r.revenue), "order_count": int(r.order_count)} for r in rows}


class Stopped(KeyboardInterrupt):
    """SIGTERM, turned into an exception so the services stop and the results file is kept."""


def run(plan: Plan) -> int:
    """Measure every scenario of ``plan``; after each one, print its report lines and rewrite
    the results file (``"finished": false`` until the end), then print the full report.

    To add a scenario: a name in ``bench.plan.SCENARIOS`` (in run order), a block below::

        if plan.runs("name"):
            log(f"what it measures (load {load_average()})")
            results["name"] = attempt("name", name_scenarios, context, ...)
            done("name")

    and its report lines in ``bench.report.SECTIONS`` (and ``REPORT_ORDER``, for the report at
    the end): ``"name": lambda results, figures, plan: name_lines(results.get("name"))``.
    """
    import signal

    from bench import report
    from bench.machine import load_average, machine_info

    log = Progress()
    started_at = dt.datetime.now(dt.timezone.utc)
    path = plan.results_path(started_at)
    results: dict[str, Any] = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished": False,
        "scenarios_done": [],
        "plan": plan.as_dict(),
        "machine": machine_info(),
        "single_partition": {},
        "errors": [],
    }

    def attempt(name: str, fn: Callable[..., T], *args: Any) -> T | None:
        try:
            return fn(*args)
        except Exception as error:  # keep going: one broken scenario must not hide the rest
            log(f"ERROR in {name}: {type(error).__name__}: {(str(error).splitlines() or [''])[0][:300]}")
            results["errors"].append(
                {"scenario": name, "error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
            )
            return None

    def done(scenario: str, section: str | None = None, size: int | None = None) -> None:
        report.scenario_done(results, plan, path, scenario, section, size)

    def stop(signum: int, frame: Any) -> None:
        raise Stopped(signal.Signals(signum).name)

    report.write_results(results, path)
    print(f"results file (rewritten after each scenario): {report.shown_path(path)}", flush=True)
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        measure(plan, results, log, attempt, done)
    except KeyboardInterrupt as interrupt:
        results["interrupted"] = str(interrupt) or "SIGINT"
        results["wall_s"] = round(time.perf_counter() - log.started, 1)
        report.write_results(results, path)
        log(
            f"interrupted ({results['interrupted']}): {report.shown_path(path)} holds every scenario finished "
            f"so far ({', '.join(results['scenarios_done']) or 'none'})"
        )
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    results["machine"]["load_average_at_end"] = load_average()
    results["finished_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    results["wall_s"] = round(time.perf_counter() - log.started, 1)
    return report.finish(results, plan, path)


def measure(
    plan: Plan,
    results: dict[str, Any],
    log: Progress,
    attempt: Callable[..., Any],
    done: Callable[..., None],
) -> None:
    """Start the services, load the data and run the plan's scenarios, each followed by
    ``done(scenario)``."""
    from bench.backfill import RERUN_REPEATS, backfill_scenarios
    from bench.baselines import sql_floor, textbook_pipeline, warm_day
    from bench.child import run_in_child
    from bench.commands import command_scenarios
    from bench.data import load
    from bench.fingerprint import fingerprint_scenarios
    from bench.floor import floor_scenarios
    from bench.heal_pass import LENGTHS as HEAL_LENGTHS
    from bench.heal_pass import PASSES as HEAL_PASSES
    from bench.heal_pass import heal_pass_scenarios
    from bench.landed_file import landed_file_scenarios
    from bench.landing_latency import landing_latency
    from bench.machine import load_average
    from bench.multi_run import MULTI_RUN_DAYS, multi_run_scenarios
    from bench.partition import bare_partition, flow_partition
    from bench.plan import LANDING_FILES
    from bench.report import LONG_WHOLE_REPEATS
    from bench.scaling import scaling_scenarios
    from bench.services import services
    from bench.verify_range import LENGTHS as VERIFY_LENGTHS
    from bench.verify_range import verify_range_scenarios
    from bench.whole import whole_process

    log(
        f"benchmark plan: {', '.join(s for s in plan.scenarios if plan.runs(s))}; "
        f"sizes {', '.join(human(s) for s in plan.sizes)}; "
        + (
            "no backfill"
            if plan.skip_backfill
            else f"backfill {plan.backfill_days} days x {human(plan.backfill_orders_per_day)} orders"
        )
    )
    with services(plan.database_url, log=log) as svc:
        results["services"] = {
            "postgres": svc.postgres,
            "database": svc.database,
            "s3": "moto server (HTTP, loopback)",
            "prefect_api": "prefect_test_harness (temporary local server)",
        }
        log("loading orders (generate_orders + COPY)")
        results["data"] = load(svc.pg_url, plan, log=log)
        results["machine"]["postgres"] = results["data"]["postgres_version"]
        done("data", section="header")
        context = {**svc.child_context(), "warm_up_day": plan.single_day(plan.sizes[0]).isoformat()}

        for size in plan.sizes if plan.runs("single") else ():
            day = plan.single_day(size)
            repeats = plan.repeats_for(size)
            name = f"single partition {human(size)} ({day}, x{repeats})"
            entry: dict[str, Any] = {
                "orders": size,
                "partition": day.isoformat(),
                "repeats": repeats,
                "load_average": {},
            }

            def step(key: str, message: str, entry: dict[str, Any] = entry, name: str = name) -> None:
                entry["load_average"][key] = load_average()
                log(f"{name}: {message} (load {entry['load_average'][key]})")

            warm_day(svc.pg_url, day)
            step("sql_floor", "SQL GROUP BY floor")
            entry["sql_floor"] = attempt(f"{name} sql floor", sql_floor, svc.pg_url, day, None, max(3, repeats))
            step(
                "textbook",
                f"pd.read_sql textbook pipeline, paired with the pipeline's extract (x{plan.baseline_rounds(size)})",
            )
            entry["textbook"] = attempt(
                f"{name} textbook",
                run_in_child,
                textbook_pipeline,
                svc.pg_url,
                day.isoformat(),
                plan.baseline_rounds(size),
            )
            step("bare", "stages run bare")
            entry["bare"] = attempt(f"{name} bare", run_in_child, bare_partition, context, day.isoformat(), repeats)
            step("flow", "daily_revenue flow through Prefect")
            entry["flow"] = attempt(f"{name} flow", run_in_child, flow_partition, context, day.isoformat(), repeats)
            entry["published"] = attempt(f"{name} published", read_published, svc.pg_url, day, day)
            results["single_partition"][str(size)] = entry
            done(f"single {human(size)}", section="single", size=size)

        if plan.runs("fingerprint"):
            log(f"fingerprint query: the aggregate alone vs with row hashes (load {load_average()})")
            fingerprint_days = {size: plan.single_day(size) for size in plan.sizes}
            results["fingerprint"] = attempt("fingerprint", fingerprint_scenarios, svc.pg_url, fingerprint_days, 5, log)
            done("fingerprint")

        first, last = plan.backfill_start, plan.backfill_end
        if plan.runs("backfill"):
            warm_day(svc.pg_url, first, last)
            backfill_load = load_average()
            log(
                f"backfill {first}..{last}: first run, cache-hit rerun, ledger-skip rerun, bare work "
                f"(load {backfill_load})"
            )
            backfill = attempt(
                "backfill",
                run_in_child,
                backfill_scenarios,
                context,
                first.isoformat(),
                last.isoformat(),
                plan.concurrency,
                1 if plan.judged else RERUN_REPEATS,
            )
            if backfill is not None:
                backfill["load_average"] = {"start": backfill_load, "end": load_average()}
                log("backfill: SQL GROUP BY floor over the range")
                backfill["sql_floor"] = attempt("backfill sql floor", sql_floor, svc.pg_url, first, last, 3)
                backfill["published"] = attempt("backfill published", read_published, svc.pg_url, first, last)
            results["backfill"] = backfill
            done("backfill")

        if plan.runs("whole"):
            log(
                f"whole process, {first}..{last}: the Dagster baseline and `revenue backfill --force`, "
                f"x{plan.whole_repeats} each (load {load_average()})"
            )
            results["whole_process"] = attempt(
                "whole process", whole_process, context, first.isoformat(), last.isoformat(), plan.whole_repeats
            )
            if results["whole_process"]:
                results["whole_process"]["published"] = attempt(
                    "whole process published", read_published, svc.pg_url, first, last
                )
            done("whole")

        if plan.runs("commands"):
            repeats = 1 if plan.judged else plan.whole_repeats + 1
            log(f"commands: status, verify and argument errors vs import prefect, x{repeats} (load {load_average()})")
            results["commands"] = attempt("commands", command_scenarios, context, repeats, not plan.judged)
            done("commands")

        if plan.runs("floor"):
            log(f"Prefect's floor: 30 task runs shaped like a partition's, doing nothing (load {load_average()})")
            results["prefect_floor"] = attempt(
                "prefect floor", run_in_child, floor_scenarios, context, plan.concurrency
            )
            done("floor")

        if plan.runs("scaling"):
            log(f"scaling: forced backfills of {', '.join(map(str, plan.scaling_days))} days (load {load_average()})")
            results["scaling"] = attempt(
                "scaling",
                run_in_child,
                scaling_scenarios,
                context,
                first.isoformat(),
                list(plan.scaling_days),
                plan.concurrency,
            )
            done("scaling")

        if plan.runs("whole_long"):
            long_last = first + dt.timedelta(days=plan.long_days - 1)
            log(
                f"whole process, {first}..{long_last} ({plan.long_days} days): the Dagster baseline and "
                f"`revenue backfill --force`, x{LONG_WHOLE_REPEATS} each (load {load_average()})"
            )
            long = attempt(
                "whole process long",
                whole_process,
                context,
                first.isoformat(),
                long_last.isoformat(),
                LONG_WHOLE_REPEATS,
            )
            if long:
                long["published"] = attempt(
                    "whole process long published", read_published, svc.pg_url, first, long_last
                )
            results["whole_process_long"] = long
            done("whole_long")

        if plan.runs("verify_range"):
            lengths = sorted({min(n, plan.loaded_days) for n in VERIFY_LENGTHS})
            log(f"verify over {', '.join(map(str, lengths))} days (load {load_average()})")
            results["verify_range"] = attempt(
                "verify range", run_in_child, verify_range_scenarios, context, first.isoformat(), lengths
            )
            done("verify_range")

        if plan.runs("heal_pass"):
            lengths = sorted({min(n, plan.loaded_days) for n in HEAL_LENGTHS})
            log(f"watcher heal pass over {', '.join(map(str, lengths))} days (load {load_average()})")
            results["heal_pass"] = attempt(
                "heal pass",
                run_in_child,
                heal_pass_scenarios,
                context,
                first.isoformat(),
                lengths,
                3 if plan.quick else HEAL_PASSES,
            )
            done("heal_pass")

        if plan.runs("multi_run"):
            days = min(MULTI_RUN_DAYS, plan.loaded_days)
            log(
                f"multi-run: a forced {days}-day backfill, one run vs chunks on two workers, through a live "
                f"Prefect server on Postgres (load {load_average()})"
            )
            results["multi_run"] = attempt(
                "multi-run", multi_run_scenarios, context, first.isoformat(), days, max(1, days // 6), log
            )
            done("multi_run")
        log("stopping services")

    if plan.runs("landed_file"):
        log(f"landed files at the limits: memory and time of reading one (load {load_average()})")
        results["landed_file"] = attempt("landed file", landed_file_scenarios, plan.quick, log)
        done("landed_file")

    if plan.runs("landing_latency"):
        files = 2 if plan.quick else LANDING_FILES
        log(f"landed file -> published under revenue dev, cold and warm, {files} files each (load {load_average()})")
        results["landing_latency"] = attempt("landing latency", landing_latency, files, ("cold", "warm"), log)
        done("landing_latency")
