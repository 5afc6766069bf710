"""Implementations of the ``revenue`` commands (imported lazily by ``cli.main``)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, cast

from revenue import catalog
from revenue.untrusted import terminal_text

if TYPE_CHECKING:  # pandas is imported by the commands that print tables, not by every command
    import datetime as dt

    import pandas as pd

    from blocks.create import SavedBlock
    from revenue.io.environment import Environment
    from revenue.io.source import OrdersSource
    from revenue.stages import PartitionOutcome


def say(text: object, file: TextIO | None = None) -> None:
    """Print ``text`` as the terminal may show it: keys, causes and names come from landed
    files and shared services, so every control character (an ANSI or OSC escape, BEL, CR)
    is shown as its escape (``revenue.untrusted.terminal_text``), never interpreted."""
    print(terminal_text(text), file=file or sys.stdout)


class TerminalFormatter(logging.Formatter):
    """Log lines for a terminal: the formatted line through ``terminal_text``."""

    def format(self, record: logging.LogRecord) -> str:
        return terminal_text(super().format(record))


def describe_error(error: BaseException) -> str:
    """One line for the terminal: the error's own message, first line only, any URL's
    password or labelled secret in it redacted."""
    from revenue.redaction import redact

    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return redact(text)[:500]


def _home() -> Path:
    from cli.main import DEFAULT_HOME

    return DEFAULT_HOME


def _prefect_api_configured() -> bool:
    """Whether a Prefect server is configured (``PREFECT_API_URL``, set by hand, by a
    Prefect profile, or by the CLI for a running ``revenue dev``); without one, reading
    blocks would start a temporary server, which never holds this project's blocks."""
    if os.environ.get("PREFECT_API_URL"):
        return True
    from prefect.settings import get_current_settings

    return bool(get_current_settings().api.url)


def _without_server(env: str) -> Exception:
    from revenue.errors import UnknownEnvironmentError

    return UnknownEnvironmentError(
        f"environment {env!r} is not an embedded default here (no {_home()}/environments/{env}.json) and no "
        "Prefect server is configured to read its blocks from: start `revenue dev`, or set PREFECT_API_URL"
    )


def _environment_exists(env: str) -> None:
    """Check ``env`` before a run: an embedded default's blocks are (re)created from its
    manifest on the server in use when missing there; any other environment's blocks are
    read from the configured Prefect server (no temporary server is started to say that an
    environment does not exist)."""
    from revenue.errors import UnknownEnvironmentError
    from revenue.io.manifest import read_manifest

    manifest = read_manifest(_home(), env)
    if manifest is None:
        if not _prefect_api_configured():
            raise _without_server(env)
        _block_exists(env)
    from cli.temporary_server import ensure_api
    from revenue.io.environment import environment

    ensure_api()  # an embedded default without a server: Prefect's temporary one, waited for

    try:
        environment(env)
    except UnknownEnvironmentError:
        if manifest is None:
            raise
        from blocks.create import blocks_from_environ, save_environment
        from revenue.io.environment import forget_environments

        save_environment(env, blocks_from_environ(manifest))
        forget_environments()


def _readable_environment(env: str) -> Environment:
    """The environment for a read-only command: an embedded default from its manifest
    (Prefect is not even imported), else from its blocks on the configured server. Nothing
    heavy is imported before an unknown environment is reported."""
    from revenue.io.manifest import read_manifest

    if read_manifest(_home(), env) is not None:
        from revenue.io.environment import local_environment

        local = local_environment(env, _home())
        if local is not None:  # else its manifest went away since: look for its blocks
            return local
    if not _prefect_api_configured():
        raise _without_server(env)
    _block_exists(env)
    from revenue.io.environment import environment

    return environment(env)


def _block_exists(env: str) -> None:
    """Ask the server whether the environment's block exists before importing what loading
    it takes (the block classes of prefect-sqlalchemy and prefect-aws, pandas): an unknown
    ``--env`` is answered in about the time of ``import prefect``."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    from revenue.io.block_lookup import not_found

    with get_client(sync_client=True) as client:
        try:
            client.read_block_document_by_name(env, block_type_slug="revenue-environment", include_secrets=False)
        except ObjectNotFound:
            raise not_found(env, client) from None


def blocks(args: argparse.Namespace) -> int:
    from blocks.create import blocks_from_environ, save_environment, validate_env_name

    validate_env_name(args.env)
    built = None if args.local else blocks_from_environ(dict(os.environ))  # a bad variable is told first
    from cli.temporary_server import ensure_api

    ensure_api()  # blocks are saved in the configured server, else in the temporary one's database
    if built is None:
        saved, manifest = ensure_local_environment(args.env, args.local)
    else:
        saved, manifest = save_environment(args.env, built), None
    for block in saved:
        say(f"saved {block.slug}/{block.name}")
    if manifest is not None:
        say(f"wrote {manifest}")
    return 0


def ensure_local_environment(env: str, home: Path) -> tuple[list[SavedBlock], Path]:
    """Create the embedded default's directories, blocks and manifest (idempotent); returns
    the blocks saved and the manifest's path."""
    from blocks.create import (
        blocks_from_environ,
        embedded_default_environ,
        save_environment,
    )
    from cli.temporary_server import ensure_api
    from revenue.io.manifest import write_manifest

    ensure_api()

    from revenue import settings

    # the alert settings of this process: an embedded default gets alerts from them too
    environ = {**embedded_default_environ(home), **settings.alert_variables()}
    for directory in (settings.LAKE_URL, settings.RESULTS_URL, settings.LANDING_URL):
        Path(directory.text(environ)).mkdir(parents=True, exist_ok=True)
    saved = save_environment(env, blocks_from_environ(environ))
    return saved, write_manifest(_home(), env, environ)


def demo(args: argparse.Namespace) -> int:
    import datetime as dt

    import sqlalchemy as sa

    from flows.backfill import backfill as backfill_flow
    from revenue.demo_data import generate_orders
    from revenue.io.environment import environment, forget_environments
    from revenue.io.orders_table import create_orders_table, load_orders

    home: Path = args.home.expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    end = args.start + dt.timedelta(days=args.days - 1)
    say(f"demo: {args.days} days {args.start}..{end}, {args.orders_per_day} orders a day, files in {home}")
    orders = generate_orders(args.start, end, args.orders_per_day)
    engine = sa.create_engine(f"sqlite:///{home / 'source.db'}")
    create_orders_table(engine, replace=True)
    load_orders(engine, orders)
    engine.dispose()
    ensure_local_environment(args.env, home)
    forget_environments()
    say(f"demo: wrote {len(orders)} source rows; blocks of environment {args.env!r} saved")
    outcomes = cast(  # a direct call returns the outcomes, or raises when the run fails
        "list[PartitionOutcome]",
        backfill_flow(start=args.start.isoformat(), end=end.isoformat(), env=args.env, skip_up_to_date=False),
    )
    by_day = {o.partition: o.outcome for o in outcomes}
    table = environment(args.env).warehouse.read_table(catalog.DAILY_REVENUE.name)
    table = table[(table.order_date >= args.start) & (table.order_date <= end)]
    table = table.assign(outcome=table.order_date.map(lambda d: by_day.get(d.isoformat(), "")))
    say("")
    say(_format_revenue(table))
    return 0


def _format_revenue(table: pd.DataFrame) -> str:
    shown = table[["order_date", "revenue", "order_count", "outcome"]].copy()
    shown["revenue"] = shown["revenue"].map(lambda v: f"{v:,.2f}")
    total = f"total {table['revenue'].sum():,.2f} over {int(table['order_count'].sum())} orders"
    return shown.to_string(index=False) + "\n" + total


def run(args: argparse.Namespace) -> int:
    _environment_exists(args.env)  # first: an unknown one is told before the flows are imported
    from flows.daily_revenue import daily_revenue

    [outcome] = cast(
        "list[PartitionOutcome]",
        daily_revenue(partition_date=args.date.isoformat(), env=args.env, force=args.force),
    )
    say(
        f"{outcome.partition}: {outcome.outcome}; revenue {outcome.revenue:,.2f} from "
        f"{outcome.order_count} orders, {outcome.rejected_count} rejected; gates {outcome.gates}"
    )
    return 0


def backfill(args: argparse.Namespace) -> int:
    if args.plan:  # read-only: no Prefect needed on the embedded default
        from revenue.backfill_plan import preview, render_text

        env = _readable_environment(args.env)
        say(
            render_text(
                preview(env, args.start, args.end, args.force, partitions_per_run=args.partitions_per_run or 0),
                args.max_concurrency,
            )
        )
        return 0
    _environment_exists(args.env)  # first: an unknown one is told before the flows are imported
    from flows.backfill import PartitionsFailed
    from flows.backfill import backfill as backfill_flow
    from flows.progress import progress_reported_to

    bar = ProgressBar(sys.stderr)
    try:
        with progress_reported_to(bar):
            outcomes = cast(  # the outcomes, or it raises when the run fails
                "list[PartitionOutcome]",
                backfill_flow(
                    start=args.start.isoformat(),
                    end=args.end.isoformat(),
                    env=args.env,
                    force=args.force,
                    max_concurrency=args.max_concurrency,
                    partitions_per_run=args.partitions_per_run or 0,
                ),
            )
    except PartitionsFailed as failure:
        bar.finish()
        say(str(failure), file=sys.stderr)
        return 1
    bar.finish()
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.outcome] = counts.get(outcome.outcome, 0) + 1
    say(", ".join(f"{n} {name}" for name, n in sorted(counts.items())))
    return 0


class ProgressBar:
    """A one-line terminal progress bar fed by the backfill's progress listener."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self.started = False

    def __call__(self, done: int, total: int, outcome: PartitionOutcome) -> None:
        filled = int(self.width * done / max(total, 1))
        text = f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} {outcome.partition} {outcome.outcome}"
        line = "\r" + terminal_text(text)
        self.stream.write(line.ljust(self.width + 40) if self.stream.isatty() else line.lstrip("\r") + "\n")
        self.stream.flush()
        self.started = True

    def finish(self) -> None:
        if self.started and self.stream.isatty():
            self.stream.write("\n")


def status(args: argparse.Namespace) -> int:
    """The grid of ``[start, end]``; without them, the partition-status artifact's window
    (the last weeks up to yesterday and every failed day), running days included."""
    import datetime as dt

    env = _readable_environment(args.env)  # first: an unknown one is told before any import

    from revenue.grid import render_text
    from revenue.io.activity import LANDING_WATCHER, last_beat
    from revenue.partitions import partition_range
    from revenue.status import current_statuses, grid_days, pending_files

    if args.start is None and args.end is None:
        days = grid_days(env)
    else:
        end = args.end or dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
        days = partition_range(
            args.start or end - dt.timedelta(weeks=env.block.status_weeks) + dt.timedelta(days=1), end
        )
    checked = last_beat(env.warehouse, LANDING_WATCHER) if env.landing is not None else None
    say(render_text(current_statuses(env, days), checked))
    pending = pending_files(env)  # shown as pending: status never reads a landed file
    if pending:
        say(pending)
    return 0


def watch(args: argparse.Namespace) -> int:
    """The landing watcher in the foreground until stopped (``--once``: one pass)."""
    _environment_exists(args.env)
    import datetime as dt

    from flows.landing_watcher import watch as watch_landing

    handler = logging.StreamHandler()
    handler.setFormatter(TerminalFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # not basicConfig: importing Prefect already gave the root logger its console handler at
    # WARNING, so basicConfig did nothing and every INFO line (announced, healing) was lost
    ours = logging.getLogger("revenue")
    ours.addHandler(handler)
    ours.setLevel(logging.INFO)
    ours.propagate = False  # Prefect's root handler would print each line a second time
    every = dt.timedelta(minutes=args.full_listing_every) if args.full_listing_every > 0 else None
    announced = watch_landing(args.env, args.interval, passes=1 if args.once else None, full_listing_every=every)
    say(f"announced {announced} landed file(s)")
    return 0


def serve(args: argparse.Namespace) -> int:
    """The environment's deployments served from this process until stopped."""
    from cli.devserver import profile_api_url
    from revenue.errors import ConfigurationError

    if not (os.environ.get("PREFECT_API_URL") or profile_api_url()):  # a running revenue dev set the variable
        raise ConfigurationError(
            "revenue serve needs a Prefect server whose schedules and triggers start its runs: set PREFECT_API_URL "
            "(or run revenue dev, which serves the local environment itself)"
        )
    _environment_exists(args.env)
    from flows import warm_start
    from flows.served import deployment_names, served_flows
    from flows.served import serve as serve_flows

    served = served_flows(args.env)
    warm = warm_start.install(warm=not args.cold_starts)
    say(
        f"revenue serve: serving {', '.join(deployment_names(served))} for environment {args.env}, "
        + ("each run forked from a warm process" if warm else "each run in a new interpreter")
        + "; Ctrl-C stops it"
    )
    serve_flows(served, query_seconds=args.interval)
    return 0


def verify(args: argparse.Namespace) -> int:
    env = _readable_environment(args.env)  # first: an unknown one is told before any import

    from revenue.verify import render_differences, verify_range

    differences = verify_range(env, args.start, args.end)
    say(render_differences(differences, args.start, args.end))
    return 1 if differences else 0


def dev(args: argparse.Namespace) -> int:
    from cli.dev import DevOptions, run_dev

    home = _home()
    return run_dev(
        DevOptions(
            port=args.port,
            env=args.env,
            home=(home / args.env).resolve(),
            state_home=home,
            orders_per_day=args.orders_per_day,
            interval=args.interval,
            warm_starts=not args.cold_starts,
        )
    )


def seed_empty_days(source: OrdersSource, first: dt.date, last: dt.date, orders_per_day: int) -> list[dt.date]:
    """Demo orders for each day of ``[first, last]`` that holds none in ``source`` (its
    orders table exists), with ids after the table's largest; the days loaded. Days that
    hold orders, inside or outside the range, are left as they are."""
    import datetime as dt

    from revenue.demo_data import generate_orders
    from revenue.io.orders_table import load_orders
    from revenue.partitions import partition_range

    empty = [day for day in partition_range(first, last) if source.order_rows(day, day)[0] == 0]
    top = source.order_rows(first, first)[1]
    runs: list[list[dt.date]] = []
    for day in empty:  # consecutive empty days in one load
        if runs and runs[-1][-1] + dt.timedelta(days=1) == day:
            runs[-1].append(day)
        else:
            runs.append([day])
    for run in runs:
        orders = generate_orders(run[0], run[-1], orders_per_day, first_id=top + 1)
        load_orders(source.engine, orders, source.table, source.schema)
        top += len(orders)
    return empty


def seed(args: argparse.Namespace) -> int:
    """Demo orders into the environment's real source (the orders table created if absent)
    and its buckets or directories created if missing: "point it at your Postgres and S3"
    tried end to end. Loads demo orders into each day of the range that holds none; days
    that hold orders are left as they are."""
    import datetime as dt

    from revenue.io.orders_table import create_orders_table
    from revenue.io.storage import ensure_container

    env = _readable_environment(args.env)
    end = (
        args.start + dt.timedelta(days=args.days - 1)
        if args.start
        else (dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1))
    )
    start = args.start or end - dt.timedelta(days=args.days - 1)
    for name in ("lake", "results", "landing"):
        store = env.store(name)
        if store is not None:
            created = ensure_container(store)
            say(f"{name}: {store.uri()}" + (" (created)" if created else ""))
    source = env.source
    create_orders_table(source.engine, source.table, source.schema)
    loaded = seed_empty_days(source, start, end, args.orders_per_day)
    if not loaded:
        say(f"source {source.label}: every day of {start}..{end} holds orders: loaded nothing")
    else:
        say(
            f"source {source.label}: loaded {len(loaded) * args.orders_per_day} demo order rows into the "
            f"{len(loaded)} day(s) of {start}..{end} that held none"
        )
    return 0


def webhook_template(args: argparse.Namespace) -> int:
    """The webhook template, EventBridge rule or input transformer of ``revenue.webhook``,
    filled for the environment's S3 landing block (read-only: no flow, no server write)."""
    from revenue.webhook import filled, landing_location

    env = _readable_environment(args.env)
    bucket, prefix = landing_location(env.landing)
    print(filled(args.part, args.env, bucket, prefix), end="")  # as it is: JSON and Jinja, no terminal escaping
    return 0


def alerts(args: argparse.Namespace) -> int:
    """``revenue alerts test``: one test message per destination; exit 1 if any refused."""
    from blocks.alerts import send_test_message

    _environment_exists(args.env)
    outcomes = send_test_message(args.env)
    if not outcomes:
        from revenue.errors import ConfigurationError

        raise ConfigurationError(
            f"environment {args.env!r} has no alert destination: set REVENUE_ALERT_WEBHOOK_URL (or "
            f"REVENUE_ALERT_SLACK_WEBHOOK_URL, REVENUE_ALERT_PAGERDUTY_INTEGRATION_KEY) and run "
            f"`revenue blocks create --env {args.env}`"
        )
    for name, outcome in outcomes.items():
        say(f"{name}: {outcome}")
    return 0 if all(o == "accepted" for o in outcomes.values()) else 1
