"""``revenue``: the command line of the daily revenue pipeline.

Every command takes ``--help``. Bad arguments (an impossible date, an unknown
environment block, a missing variable) exit non-zero with a one-line error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from revenue import settings  # noqa: E402
from revenue.partitions import PartitionError, parse_partition  # noqa: E402

DEFAULT_HOME = Path(settings.HOME.value())
DEMO_START = dt.date(2026, 3, 1)


def _environment_option(
    parser: argparse.ArgumentParser,
    help: str = "environment (its block name; default %(default)s)",
    default: str | None = "local",
    required: bool = False,
) -> None:
    """``--env NAME``: the environment a command works on. ``--config NAME``, its name before
    one name was chosen for the environment, still works (hidden) and says so on stderr."""
    names = parser.add_mutually_exclusive_group(required=required)
    names.add_argument("--env", dest="env", type=_env_name, default=default, help=help)
    names.add_argument("--config", dest="env", type=_env_name, action=_Renamed, help=argparse.SUPPRESS)


class _Renamed(argparse.Action):
    """An option that kept working under its old name: stores the value, says the new name."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        print(f"revenue: {option_string} is now --env (the old name still works for now)", file=sys.stderr)
        setattr(namespace, self.dest, values)


def _env_name(value: str) -> str:
    """An environment name (no dot, no slash: it names files under the revenue home)."""
    from revenue.env_name import check_env_name

    try:
        return check_env_name(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _date(value: str) -> dt.date:
    try:
        return parse_partition(value)
    except PartitionError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _port(value: str) -> int:
    number = _positive(value)
    if number > 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a TCP port")
    return number


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be at least 1")
    return number


class OneLineErrorParser(argparse.ArgumentParser):
    """Usage errors as one line on stderr (``--help`` still shows the full usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="revenue", description="Orders to daily revenue, one UTC day at a time, on Prefect."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=OneLineErrorParser)

    demo = commands.add_parser("demo", help="generate demo orders, create the local blocks, run a week, print revenue")
    demo.add_argument("--start", type=_date, default=DEMO_START, help="first day (default %(default)s)")
    demo.add_argument("--days", type=_positive, default=7, help="number of days (default %(default)s)")
    demo.add_argument("--orders-per-day", type=_positive, default=200, help="orders a day (default %(default)s)")
    demo.add_argument(
        "--home", type=Path, default=DEFAULT_HOME / "local", help="where the embedded default keeps its files"
    )
    _environment_option(demo)

    dev = commands.add_parser(
        "dev",
        help="the whole system locally: Prefect server and UI, every deployment served, demo data, landing watcher",
        description="Starts (or reuses) a Prefect server on 127.0.0.1:PORT, creates the embedded default's blocks, "
        "loads demo orders into the days of its window that have none, serves every deployment of prefect.yaml "
        "from this process and watches the local landing directory. Ctrl-C stops everything it started.",
    )
    dev.add_argument("--port", type=_port, default=4200, help="Prefect server and UI port (default %(default)s)")
    _environment_option(dev, help="embedded-default environment (default %(default)s)")
    dev.add_argument("--orders-per-day", type=_positive, default=200, help="demo orders a day (default %(default)s)")
    dev.add_argument(
        "--interval", type=float, default=2.0, help="seconds between landing-directory checks (default %(default)s)"
    )
    dev.add_argument(
        "--cold-starts",
        action="store_true",
        help="start each flow run in a new interpreter that imports the pipeline again, instead of forking it "
        "from a warm process",
    )

    seed = commands.add_parser(
        "seed",
        help="load demo orders into an environment's real source and create its missing buckets",
        description="Creates the orders table if absent and loads generated demo orders for the days given "
        "(default: the 28 days up to yesterday); creates the lake, results and landing buckets (or directories) "
        "if missing. Days that already hold orders are left as they are.",
    )
    _environment_option(seed)
    seed.add_argument("--start", type=_date, default=None, help="first day (default: DAYS days up to yesterday)")
    seed.add_argument("--days", type=_positive, default=28, help="number of days (default %(default)s)")
    seed.add_argument("--orders-per-day", type=_positive, default=200, help="orders a day (default %(default)s)")

    run = commands.add_parser("run", help="run the daily_revenue flow for one day")
    run.add_argument("--date", type=_date, required=True, help="partition, YYYY-MM-DD")
    _environment_option(run)
    run.add_argument("--force", action="store_true", help="recompute, ignoring cached results")

    backfill = commands.add_parser(
        "backfill", help="materialize a range of days (one flow run, or chunks on the pool's workers)"
    )
    backfill.add_argument("--start", type=_date, required=True, help="first day, YYYY-MM-DD")
    backfill.add_argument("--end", type=_date, required=True, help="last day, YYYY-MM-DD (inclusive)")
    _environment_option(backfill)
    backfill.add_argument("--force", action="store_true", help="recompute every day, even up-to-date ones")
    backfill.add_argument("--max-concurrency", type=_positive, default=4, help="days at once (default %(default)s)")
    backfill.add_argument(
        "--partitions-per-run",
        type=_positive,
        default=None,
        metavar="N",
        help="multi-run: start each N days as a run of the backfill/range deployment, so the "
        "workers of its pool share the range (default: every day in this one run)",
    )
    backfill.add_argument(
        "--plan", action="store_true", help="compute nothing: list which days would run and why, with an estimate"
    )

    status = commands.add_parser("status", help="calendar grid of partition status (reads no order rows)")
    status.add_argument(
        "--start",
        type=_date,
        default=None,
        help="first day, YYYY-MM-DD (default: the grid's window, as the partition-status artifact)",
    )
    status.add_argument("--end", type=_date, default=None, help="last day, YYYY-MM-DD (inclusive; default yesterday)")
    _environment_option(status)

    verify = commands.add_parser(
        "verify", help="recompute revenue from the source in SQL and compare with what is published"
    )
    verify.add_argument("--start", type=_date, required=True, help="first day, YYYY-MM-DD")
    verify.add_argument("--end", type=_date, required=True, help="last day, YYYY-MM-DD (inclusive)")
    _environment_option(verify)

    watch = commands.add_parser(
        "watch", help="watch the landing zone: one revenue.file.landed event per landed file (long-lived, no flow runs)"
    )
    _environment_option(watch)
    watch.add_argument("--interval", type=float, default=30.0, help="seconds between passes (default %(default)s)")
    watch.add_argument("--once", action="store_true", help="one pass, then exit (for cron or a test)")
    watch.add_argument(
        "--full-listing-every",
        type=float,
        default=60.0,
        metavar="MINUTES",
        help="an S3 landing prefix is listed after the greatest key seen, and in full this often, "
        "for keys that sort before it (default %(default)s; 0: in full every pass)",
    )

    serve = commands.add_parser(
        "serve",
        help="serve every deployment of prefect.yaml for an environment from this process, runs started warm",
        description="Registers the deployments of prefect.yaml (the daily cron, the on-landing trigger, the backfill "
        "form) for the environment on the Prefect server as served deployments (no work pool: use it instead of "
        "`prefect deploy` and a worker, on one machine) and runs them from this process: each run forked from a "
        "process that has imported the pipeline (--cold-starts: a new interpreter each). Ctrl-C stops it.",
    )
    _environment_option(serve)
    serve.add_argument(
        "--interval", type=float, default=2.0, help="seconds between the runner's polls for runs (default %(default)s)"
    )
    serve.add_argument(
        "--cold-starts", action="store_true", help="start each run in a new interpreter that imports the pipeline again"
    )

    webhook = commands.add_parser(
        "webhook-template",
        help="print the Prefect Cloud webhook template (or EventBridge rule) for an environment's S3 landing",
        description="Prints, filled for the environment and its landing block, the Prefect Cloud webhook template "
        "that turns an EventBridge S3 'Object Created' event into revenue.file.landed (--part template), the "
        "EventBridge rule's event pattern (--part rule), or the input transformer for posting to a self-hosted "
        "server's /api/events (--part transformer).",
    )
    _environment_option(webhook)
    webhook.add_argument(
        "--part",
        choices=("template", "rule", "transformer"),
        default="template",
        help="what to print (default %(default)s)",
    )

    alerts = commands.add_parser("alerts", help="the environment's alerts (destinations and automations)")
    alert_commands = alerts.add_subparsers(
        dest="alerts_command", required=True, metavar="ACTION", parser_class=OneLineErrorParser
    )
    alert_test = alert_commands.add_parser(
        "test", help="send a test message through every alert destination and say whether each accepted it"
    )
    _environment_option(alert_test)

    blocks = commands.add_parser("blocks", help="manage the environment's Prefect blocks")
    block_commands = blocks.add_subparsers(
        dest="blocks_command", required=True, metavar="ACTION", parser_class=OneLineErrorParser
    )
    create = block_commands.add_parser(
        "create",
        help="create or update every block of an environment from REVENUE_* and AWS_* variables",
        description=f"Reads {', '.join(s.name for s in settings.REQUIRED)}, the optional environment settings "
        "(`revenue settings` lists them), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION, "
        "AWS_ENDPOINT_URL_S3. With --local DIR, builds the embedded default (SQLite + local directories).",
    )
    _environment_option(create, help="environment name: lowercase letters, digits, dashes", default=None, required=True)
    create.add_argument("--local", type=Path, metavar="DIR", help="embedded default under DIR instead of variables")

    commands.add_parser(
        "settings",
        help="list every REVENUE_* variable: its default and what it does",
        description="Prints, as a markdown table, every REVENUE_* environment variable the project reads, "
        "its scope (environment: read by `revenue blocks create`; process: read when needed; deploy: read by "
        "`prefect deploy`), its default and what it does.",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "settings":  # needs no server, nor Prefect
        print(settings.markdown_table())
        return 0
    protected = False
    try:
        from cli import commands
        from cli.devserver import profile_api_url, use_running_server
        from cli.temporary_server import protect_temporary_server

        found = use_running_server(DEFAULT_HOME)  # a running `revenue dev` is this project's server
        if found is None and args.command != "dev" and not profile_api_url():
            # else, if Prefect starts its temporary server, it demands a secret
            protected = protect_temporary_server()

        handler = {
            "demo": commands.demo,
            "dev": commands.dev,
            "seed": commands.seed,
            "run": commands.run,
            "backfill": commands.backfill,
            "status": commands.status,
            "verify": commands.verify,
            "watch": commands.watch,
            "serve": commands.serve,
            "blocks": commands.blocks,
            "alerts": commands.alerts,
            "webhook-template": commands.webhook_template,
        }[args.command]
        return handler(args)
    except KeyboardInterrupt:
        if args.command in ("dev", "serve"):
            return 0
        print("revenue: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # one line, never a traceback (set REVENUE_DEBUG=1 for one)
        if settings.DEBUG.value():
            raise
        from cli.commands import describe_error, say

        say(f"revenue {args.command}: error: {describe_error(error)}", file=sys.stderr)
        return 1
    finally:
        if protected:  # the secret lives as long as the command (main() may be called in-process)
            os.environ.pop("PREFECT_SERVER_API_AUTH_STRING", None)
            os.environ.pop("PREFECT_API_AUTH_STRING", None)


if __name__ == "__main__":
    sys.exit(main())
