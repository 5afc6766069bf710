"""``revenue dev``: the whole system on a laptop in one command.

1. A Prefect server on ``127.0.0.1:PORT`` with its UI working on that port (its
   ``PREFECT_API_URL`` is set before it starts: on any port but 4200 the UI shows "Oops"
   otherwise). Its API is protected: basic auth with the revenue home's auth string
   (``cli.devserver``; the UI asks for it once), CORS granted to the UI's own origin only,
   CSRF tokens required for writes. It keeps its database under ``<REVENUE_HOME>/prefect``
   (runs survive a restart) and its log in ``<REVENUE_HOME>/dev-server.log``. A server
   already on the port is reused only when it is the one an earlier, killed ``revenue dev``
   recorded and it demands that auth string (then it is stopped at exit); any other
   listener is refused.
2. The embedded default's blocks and manifest (``ensure_local_environment``).
3. Demo orders in each of the ``DEMO_DAYS`` days up to yesterday that has none in the source.
4. Every deployment of prefect.yaml served from this process (``prefect.serve``: the
   daily cron, the landing trigger, the backfill form; no work pool), and the landing
   watcher in a thread, every ``interval`` seconds: a CSV dropped into the landing
   directory becomes a ``daily-revenue/on-landing`` run within seconds. Each run starts
   forked from a process that has imported the pipeline (``flows.warm_start``), not as a
   new interpreter that imports it again.
5. The last week published through the ``range`` deployment when any day of it is not.

``<REVENUE_HOME>/dev.json`` says where it runs, so other ``revenue`` commands use its
server; a second ``revenue dev`` finds it and starts nothing. Ctrl-C (SIGINT), SIGTERM or
SIGHUP (its terminal closed) stops the runner (and the flow runs it started), the watcher
and the server, in that order; before the server stops, every run of the served
deployments still Running, Pending or Cancelling (the runner's) and the runs it started
itself are set Cancelled, with their unfinished task runs, so none stays ``Running`` in the
UI. On start, the runs of the served deployments an earlier ``revenue dev`` left Running,
Pending or Cancelling (it was killed: nothing runs them any more) are set Crashed.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn, cast

from cli import devserver

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.objects import FlowRun, TaskRun
    from prefect.states import State

DEMO_DAYS = 28
DEMO_WEEK = 7
SERVER_START_TIMEOUT = 180.0

log = logging.getLogger("revenue.dev")


class DevError(Exception):
    """``revenue dev`` cannot start (a port taken by something else, a server that never
    answered): one line for the terminal."""


@dataclass(frozen=True)
class DevOptions:
    port: int
    env: str
    home: Path
    """The embedded default's files (``<REVENUE_HOME>/<config>``)."""
    state_home: Path
    """``REVENUE_HOME``: where ``dev.json``, the server's database and its log live."""
    orders_per_day: int = 200
    interval: float = 2.0
    """Seconds between landing-watcher passes and between the runner's polls."""
    warm_starts: bool = True
    """Fork each run from a process that has imported the pipeline (``flows.warm_start``)."""


def api_healthy(api_url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


def _answers(url: str, auth: str | None, timeout: float) -> int:
    """The HTTP status of ``GET url`` (0 when nothing answers), with basic auth if given."""
    import base64
    import urllib.error

    headers = {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()} if auth else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def server_verifies(api_url: str, auth: str, timeout: float = 5.0) -> bool:
    """Whether the server at ``api_url`` is one protected by ``auth``: a request that needs
    the auth string succeeds with it and is refused without it (a server open to anyone,
    or one with another secret, is not the server ``revenue dev`` recorded)."""
    owner = devserver.listener_uid(devserver.port_of(api_url))
    if owner is not None and owner != os.getuid():
        return False  # another user's process: it gets no secret to check
    probe = f"{api_url}/admin/version"
    return _answers(probe, auth, timeout) == 200 and _answers(probe, None, timeout) == 401


def protected_server_environ(port: int, auth: str) -> dict[str, str]:
    """The settings that close the dev server's API: basic auth with ``auth`` (the server's
    own clients, the automations' actions, use it too), CORS granted only to the UI's own
    origins (``127.0.0.1`` and ``localhost`` on this port), CSRF tokens for every write."""
    return {
        "PREFECT_SERVER_API_AUTH_STRING": auth,
        "PREFECT_API_AUTH_STRING": auth,
        "PREFECT_SERVER_CORS_ALLOWED_ORIGINS": f"http://127.0.0.1:{port},http://localhost:{port}",
        "PREFECT_SERVER_CSRF_PROTECTION_ENABLED": "true",
        "PREFECT_CLIENT_CSRF_SUPPORT_ENABLED": "true",
    }


def port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def prefect_server(port: int, api_url: str, state_home: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``prefect server start`` on loopback, in its own session (a terminal's Ctrl-C reaches
    ``revenue dev``, which stops it after the runner), stopped when the block exits; its API
    protected by the revenue home's auth string (``protected_server_environ``)."""
    prefect_home = state_home / "prefect"
    prefect_home.mkdir(parents=True, exist_ok=True)
    environ = {
        **os.environ,
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_API_URL": api_url,
        "PREFECT_UI_API_URL": api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        **protected_server_environ(port, devserver.auth_string(state_home)),
    }
    with open(state_home / "dev-server.log", "ab") as server_log:
        process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=environ,
            stdout=server_log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while not api_healthy(api_url):
            if process.poll() is not None:
                raise DevError(
                    f"the Prefect server exited with code {process.returncode}: see {state_home / 'dev-server.log'}"
                )
            if time.monotonic() > deadline:
                raise DevError(
                    f"the Prefect server did not answer at {api_url} within "
                    f"{SERVER_START_TIMEOUT:.0f} s: see {state_home / 'dev-server.log'}"
                )
            time.sleep(0.5)
        if not server_verifies(api_url, environ["PREFECT_SERVER_API_AUTH_STRING"]):
            raise DevError(
                f"the Prefect server at {api_url} does not demand its auth string: see {state_home / 'dev-server.log'}"
            )
        yield process
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)  # the server and any process it forked
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _is_prefect_server(pid: int, port: str) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"prefect" in b" ".join(argv) and b"server" in argv and port.encode() in argv


def _stop_group(pid: int, grace: float = 20.0) -> None:
    """Stop a server this process did not start (not its child: no ``wait``)."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while devserver.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if devserver.alive(pid):
        os.killpg(pid, signal.SIGKILL)


def seed_demo_days(home: Path, orders_per_day: int, today: dt.date) -> list[dt.date]:
    """Load demo orders into every day of the ``DEMO_DAYS`` days up to yesterday (the days
    ``revenue dev`` publishes: its last week among them) that holds none in the embedded
    source, whatever other days it holds (``revenue demo``'s week, say); the days loaded."""
    import sqlalchemy as sa

    from cli.commands import seed_empty_days
    from revenue.io.orders_table import create_orders_table
    from revenue.io.source import OrdersSource

    engine = sa.create_engine(f"sqlite:///{home / 'source.db'}")
    try:
        create_orders_table(engine)
        end = today - dt.timedelta(days=1)
        return seed_empty_days(OrdersSource(engine), end - dt.timedelta(days=DEMO_DAYS - 1), end, orders_per_day)
    finally:
        engine.dispose()


def unpublished_days(config: str, home_root: Path, days: list[dt.date]) -> list[dt.date]:
    """The days of ``days`` the warehouse does not hold as materialized (or warned) now."""
    from revenue.io.environment import local_environment
    from revenue.io.partition_input import plan_inputs
    from revenue.status import classify_range

    env = local_environment(config, home_root)
    if env is None:
        raise RuntimeError(f"environment {config} has no manifest under {home_root}")
    statuses = classify_range(env, plan_inputs(env, days))
    return [s.partition for s in statuses if s.state not in ("materialized", "warned")]


def publish_week_when_served(config: str, days: list[dt.date], stop: threading.Event) -> None:
    """Once the ``range`` deployment is registered, start one run of it for ``days``."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    deadline = time.monotonic() + 120
    with get_client(sync_client=True) as client:
        while not stop.is_set():
            try:
                client.read_deployment_by_name("backfill/range")
                break
            except Exception:  # not registered yet
                if time.monotonic() > deadline:
                    log.warning("the range deployment was not registered: the demo week was not published")
                    return
                stop.wait(0.5)
    if stop.is_set():
        return
    first, last = days[0].isoformat(), days[-1].isoformat()
    run = cast(
        "FlowRun",
        run_deployment(
            "backfill/range",
            parameters={"start": first, "end": last, "env": config},
            timeout=0,
            idempotency_key=f"revenue-dev-{config}-{first}-{last}-{os.getpid()}",
        ),
    )
    ui = os.environ["PREFECT_API_URL"].removesuffix("/api")
    print(f"revenue dev: publishing {first}..{last} through backfill/range: {ui}/runs/flow-run/{run.id}", flush=True)


UNFINISHED = ("RUNNING", "PENDING", "CANCELLING")
"""States of a flow run that a process still owns: none may outlive the runner that owned it."""
STOPPED_MESSAGE = "revenue dev stopped while this run was not finished (Ctrl-C, kill, or its terminal closed)"
LEFT_BEHIND_MESSAGE = "the revenue dev that ran it stopped without finishing it (it was killed)"


def _own_runs_key(config: str) -> tuple[str, str]:
    """Prefix and suffix of the idempotency keys of the runs this process starts itself."""
    return f"revenue-dev-{config}-", f"-{os.getpid()}"


def unfinished_runs(
    client: SyncPrefectClient, deployment_names: list[str], states: tuple[str, ...] = UNFINISHED
) -> list[FlowRun]:
    """Flow runs in ``states`` of the deployments named ``flow/deployment`` that are served
    (no work pool: only a ``revenue dev`` runs them)."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.exceptions import ObjectNotFound

    ids = []
    for name in deployment_names:
        try:
            deployment = client.read_deployment_by_name(name)
        except ObjectNotFound:
            continue
        if deployment.work_pool_name is None:
            ids.append(deployment.id)
    if not ids:
        return []
    return client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            deployment_id=FlowRunFilterDeploymentId(any_=ids),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType(s) for s in states])),
        )
    )


def end_runs(client: SyncPrefectClient, runs: list[FlowRun], crashed: bool, message: str) -> list[FlowRun]:
    """Set each run, and its task runs still Running or Pending, Crashed or Cancelled
    (forced: no process will report their end); the runs whose state could not be set are
    logged and left out of the result."""
    from prefect.states import Cancelled, Crashed

    def state() -> State:
        return Crashed(message=message) if crashed else Cancelled(message=message)

    ended = []
    for run in runs:
        try:
            for task_run in unfinished_task_runs(client, run):
                client.set_task_run_state(task_run.id, state(), force=True)
            client.set_flow_run_state(run.id, state(), force=True)
            ended.append(run)
        except Exception as error:  # noqa: BLE001 - one run's failure must not keep the others running
            log.warning("could not end flow run %s (%s): %s", run.name, run.id, error)
    return ended


def unfinished_task_runs(client: SyncPrefectClient, run: FlowRun) -> list[TaskRun]:
    """The task runs of ``run`` still Running or Pending (a killed process never ends them)."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        TaskRunFilter,
        TaskRunFilterState,
        TaskRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    return client.read_task_runs(
        flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])),
        task_run_filter=TaskRunFilter(
            state=TaskRunFilterState(type=TaskRunFilterStateType(any_=[StateType.RUNNING, StateType.PENDING]))
        ),
    )


def processes_running(flow_run_id: object) -> list[int]:
    """Local processes executing the flow run ``flow_run_id`` (a runner gives each its id in
    ``PREFECT__FLOW_RUN_ID``); none where there is no ``/proc``."""
    needle = f"PREFECT__FLOW_RUN_ID={flow_run_id}".encode()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        if int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:  # gone, or another user's
            continue
        if needle in environ and devserver.alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def terminate(pids: list[int], grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL what still runs after ``grace`` seconds."""
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(devserver.alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in pids:
        if devserver.alive(pid):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def settle_runs_left_behind(names: list[str]) -> None:
    """On start: the served deployments' runs an earlier ``revenue dev`` left unfinished
    (no ``revenue dev`` runs now, so no runner owns them) are set Crashed, after stopping
    any process of that ``revenue dev`` still executing one (a killed parent leaves its
    children running)."""
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            runs = unfinished_runs(client, names)
            for run in runs:
                orphans = processes_running(run.id)
                if orphans:
                    print(f"revenue dev: stopping pid {orphans} left running flow run {run.name}", flush=True)
                    terminate(orphans)
            ended = end_runs(client, runs, crashed=True, message=LEFT_BEHIND_MESSAGE)
    except Exception as error:  # noqa: BLE001 - serving matters more than tidying
        log.warning("could not check for flow runs an earlier revenue dev left running: %s", error)
        return
    for run in ended:
        print(f"revenue dev: flow run {run.name} was left running by an earlier revenue dev: set Crashed", flush=True)


INTERRUPTED = "Execution was aborted by an interrupt signal."
"""The state message of a run whose own engine saw the Ctrl-C (Prefect's, in ``prefect.states``)."""


def cancel_own_runs(names: list[str], config: str, since: dt.datetime | None = None) -> None:
    """On stop: the served deployments' runs still Running, Pending or Cancelling (the
    runner's; it has stopped their processes) and the runs this process started that have
    not finished (a run it started may still be Scheduled) are set Cancelled; so are the
    served runs that ended Crashed on the interrupt since ``since`` (Ctrl-C reaches their
    processes too, one process group: the user stopped them)."""
    from prefect.client.orchestration import get_client

    prefix, suffix = _own_runs_key(config)
    try:
        with get_client(sync_client=True) as client:
            runs = {r.id: r for r in unfinished_runs(client, names)}
            if since is not None:
                for run in unfinished_runs(client, names, ("CRASHED",)):
                    state = run.state
                    if state is not None and state.message == INTERRUPTED and state.timestamp >= since:
                        runs[run.id] = run
            for run in unfinished_runs(client, names, ("SCHEDULED", "PAUSED", *UNFINISHED)):
                key = run.idempotency_key or ""
                if key.startswith(prefix) and key.endswith(suffix):
                    runs[run.id] = run
            ended = end_runs(client, list(runs.values()), crashed=False, message=STOPPED_MESSAGE)
    except Exception as error:  # noqa: BLE001 - stopping must go on
        log.warning("could not cancel the flow runs revenue dev leaves unfinished: %s", error)
        return
    for run in ended:
        print(f"revenue dev: cancelled flow run {run.name}", flush=True)


def yesterday_of(seeded: list[dt.date]) -> str:
    """A day the demo data covers, for the example command."""
    return (seeded[-1] if seeded else dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)).isoformat()


DESTINATION_LABELS = {"alert-webhook": "webhook", "alert-slack": "Slack", "alert-pagerduty": "PagerDuty"}


def destination_labels(config: str, environ: dict[str, str]) -> list[str]:
    """Which alert destinations ``REVENUE_ALERT_*`` of ``environ`` give ``config`` (their
    kinds, never their URLs or keys)."""
    from blocks.alerts import alert_destinations

    return [DESTINATION_LABELS[name.removeprefix(f"{config}-")] for name in alert_destinations(config, environ)]


def alert_automations(config: str) -> dict[str, bool]:
    """The environment's alert automations on the server: name -> enabled."""
    from prefect.client.orchestration import get_client

    from blocks.alerts import automation_name

    with get_client(sync_client=True) as client:
        return {a.name: a.enabled for a in client.read_automations() if a.name.startswith(automation_name(config, ""))}


def alerts_summary(config: str, destinations: list[str], before: dict[str, bool], after: dict[str, bool]) -> str:
    """One banner line: which destinations alerts go to, which automations are paused, or
    that this start (without ``REVENUE_ALERT_*``) removed the ones an earlier start made."""
    prefix = f"revenue {config}: "
    if destinations:
        paused = [name.removeprefix(prefix) for name, enabled in sorted(after.items()) if not enabled]
        return f"alerts on: {', '.join(destinations)} ({len(after)} automations)" + (
            f"; paused in the UI: {', '.join(paused)}" if paused else ""
        )
    removed = sorted(set(before) - set(after))
    if removed:
        return (
            f"alerts OFF: no REVENUE_ALERT_* variable is set here, so the {len(removed)} automations of {config!r} "
            "were removed; nothing will page. Set the variables again and restart revenue dev"
        )
    return "alerts off (set REVENUE_ALERT_WEBHOOK_URL, REVENUE_ALERT_SLACK_WEBHOOK_URL or REVENUE_ALERT_PAGERDUTY_*)"


def banner(
    options: DevOptions,
    ui_url: str,
    api_url: str,
    reused: bool,
    seeded: list[dt.date],
    deployments: list[tuple[Any, dict[str, Any]]],
    alerts: str = "",
) -> str:
    from flows.served import deployment_names

    landing = options.home / "landing"
    secret = devserver.auth_path(options.state_home)
    lines = [
        f"revenue dev: Prefect UI at {ui_url}" + (" (a server that was already running)" if reused else ""),
        f"  the UI asks for a password once: paste the contents of {secret} (readable by you only; "
        "every revenue command reads it by itself)",
        f"  serving {len(deployments)} deployments from this process: " + ", ".join(deployment_names(deployments)),
        f"  environment {options.env!r}: files under {options.home}",
    ]
    if alerts:
        lines.append(f"  {alerts}")
    if seeded:
        lines.append(
            f"  loaded demo orders into {len(seeded)} day(s) without orders, {seeded[0]}..{seeded[-1]} "
            f"({options.orders_per_day} a day)"
        )
    lines += [
        "",
        "Try:",
        f"  cp docs/examples/landed-orders.csv {landing}/",
        "      a daily-revenue/on-landing run starts within seconds "
        "(CSV or Parquet: order_id,customer_id,amount,order_date)",
        f"  {ui_url}/deployments -> range -> Run -> Custom run: backfill any days",
        "  .venv/bin/revenue status          the partition grid (every revenue command finds this server by itself)",
        f'  PREFECT_API_URL={api_url} PREFECT_API_AUTH_STRING="$(cat {secret})" '
        ".venv/bin/prefect deployment run daily-revenue/daily "
        f"-p partition_date={yesterday_of(seeded)}",
        "",
        "Ctrl-C stops everything revenue dev started.",
    ]
    return "\n".join(lines)


def run_dev(options: DevOptions) -> int:
    """Start (or reuse) everything, serve until interrupted, stop what was started."""
    existing = devserver.running(options.state_home)
    if existing is not None:
        print(f"revenue dev is already running (pid {existing.dev_pid}): Prefect UI at {existing.ui_url}")
        return 0
    ui_url = f"http://127.0.0.1:{options.port}"
    api_url = f"{ui_url}/api"
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as cleanly as Ctrl-C
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:  # (`nohup revenue dev` keeps running)
        signal.signal(signal.SIGHUP, _interrupt)  # closing its terminal stops it cleanly too
    # Started in the background by a non-interactive shell, SIGINT arrives ignored (and
    # Python then installs no handler): restore it, so `kill -INT` stops it too.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with ExitStack() as stack:
        server_pid = _adopt_orphaned_server(options.state_home, api_url, stack)
        if server_pid is None:
            if api_healthy(api_url):
                raise DevError(
                    f"port {options.port} answers as a Prefect server that revenue dev did not start (or cannot "
                    f"verify with the auth string in {devserver.auth_path(options.state_home)}): it would receive "
                    "this project's blocks and credentials. Stop it, or pick another port with --port"
                )
            if port_taken(options.port):
                raise DevError(
                    f"port {options.port} is in use by something that is not a Prefect server: pick another with --port"
                )
            print(
                f"revenue dev: starting a Prefect server on port {options.port} "
                f"(log: {options.state_home / 'dev-server.log'})",
                flush=True,
            )
            server_pid = stack.enter_context(prefect_server(options.port, api_url, options.state_home)).pid
        # for this process and every process it starts (served flow runs): the server and its secret
        os.environ["PREFECT_API_URL"] = api_url
        os.environ["PREFECT_API_AUTH_STRING"] = devserver.auth_string(options.state_home)
        os.environ["PREFECT_CLIENT_CSRF_SUPPORT_ENABLED"] = "true"
        devserver.record(
            options.state_home,
            devserver.DevServer(
                api_url=api_url, ui_url=ui_url, dev_pid=os.getpid(), server_pid=server_pid, config=options.env
            ),
        )
        stack.callback(devserver.forget, options.state_home, os.getpid())
        try:
            _serve(options, ui_url, api_url, reused=False)
        except KeyboardInterrupt:  # before or after `serve` had its own handler in place
            pass
    print("revenue dev: stopped", flush=True)
    return 0


def _adopt_orphaned_server(state_home: Path, api_url: str, stack: ExitStack) -> int | None:
    """The server an earlier ``revenue dev`` started on this address and left behind when
    it was killed (SIGKILL gives it no chance to stop it): reused, and stopped at exit."""
    left = devserver.left_behind(state_home)
    if left is None or left.api_url != api_url or left.server_pid is None or not api_healthy(api_url):
        return None
    port = api_url.rsplit(":", 1)[1].split("/", 1)[0]
    if not _is_prefect_server(left.server_pid, port):  # the pid may have been reused since
        return None
    if not devserver.auth_path(state_home).is_file() or not server_verifies(api_url, devserver.auth_string(state_home)):
        return None  # not protected by this home's secret (started before it was): refused by the caller
    print(
        f"revenue dev: reusing the Prefect server an earlier revenue dev left running (pid {left.server_pid})",
        flush=True,
    )
    stack.callback(_stop_group, left.server_pid)
    return left.server_pid


def _serve(options: DevOptions, ui_url: str, api_url: str, reused: bool) -> None:
    from cli.commands import ensure_local_environment
    from flows import warm_start
    from flows.landing_watcher import watch
    from flows.served import deployment_names, serve, served_flows
    from revenue.settings import alert_variables

    had = alert_automations(options.env)
    ensure_local_environment(options.env, options.home)
    alerts = alerts_summary(
        options.env,
        destination_labels(options.env, alert_variables()),
        had,
        alert_automations(options.env),
    )
    seeded = seed_demo_days(options.home, options.orders_per_day, dt.datetime.now(dt.timezone.utc).date())
    deployments = served_flows(options.env)
    settle_runs_left_behind(deployment_names(deployments))

    stop = threading.Event()
    logging.getLogger("revenue").setLevel(logging.INFO)
    watcher = threading.Thread(
        target=watch,
        args=(options.env,),
        name="landing-watcher",
        daemon=True,
        kwargs={"interval": options.interval, "stop": stop, "heal": True},  # heals unless the variable says off
    )
    watcher.start()
    yesterday = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    week = [yesterday - dt.timedelta(days=n) for n in range(DEMO_WEEK - 1, -1, -1)]
    missing = unpublished_days(options.env, options.state_home, week)
    if missing:
        threading.Thread(
            target=publish_week_when_served, args=(options.env, missing, stop), name="publish-week", daemon=True
        ).start()
    warm_start.install(warm=options.warm_starts)  # runs fork from a process that has imported the pipeline
    print(banner(options, ui_url, api_url, reused, seeded, deployments, alerts), flush=True)
    serving_since = dt.datetime.now(dt.timezone.utc)
    try:
        serve(deployments, query_seconds=options.interval)
    finally:
        stop.set()
        cancel_own_runs(deployment_names(deployments), options.env, since=serving_since)
        watcher.join(timeout=30)


def _interrupt(signum: int, frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt
