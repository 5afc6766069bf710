"""Served runs start warm (``flows.warm_start``): forked from a fork server that has imported
the pipeline, each run still a process of its own, through Prefect's runner and engine
against the session's Prefect server; cancelled as before, and gone with the serving process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

from cli.devserver import alive
from testkit.waiting import wait_for
from tests.integration.helpers import REPO, subprocess_env

pytestmark = pytest.mark.slow


@contextmanager
def served(tmp_path: Path, cold: bool = False, entrypoint: str | None = None, flow: str = "where-it-runs"):
    """A flow (``where-it-runs`` unless ``entrypoint``) served by a process of its own, as
    ``revenue dev`` serves: the deployment's name and the serving process's pid, once served."""
    name = f"warm-{uuid.uuid4().hex[:8]}"
    args = [sys.executable, "-m", "tests.integration.serve_warm", name, *(["--cold"] if cold else [])]
    environ = subprocess_env()
    if entrypoint:
        args.append(entrypoint)
        environ["PYTHONPATH"] = f"{tmp_path}{os.pathsep}{environ['PYTHONPATH']}"
    with open(tmp_path / f"{name}.out", "wb") as out:
        process = subprocess.Popen(args, cwd=REPO, env=environ, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: _deployed(f"{flow}/{name}"), 120, "the deployment to be served", 0.5)
        yield name, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _run(name: str, out: Path, linger: float = 0.0, flow: str = "where-it-runs"):
    from prefect.deployments import run_deployment

    return run_deployment(f"{flow}/{name}", parameters={"out": str(out), "linger": linger}, timeout=0)


def _state(run_id):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(run_id).state


def _deployed(name: str) -> bool:
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            return bool(client.read_deployment_by_name(name))
    except Exception:  # noqa: BLE001 - not registered yet
        return False


def test_the_fork_server_loads_the_pipeline_without_starting_a_thread():
    """A thread started before the fork would be missing in every run's process."""
    probe = (
        "import threading, flows.warm_preload, sys; "
        "print(threading.active_count(), 'great_expectations' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == ["1", "True"]


def _finished(run_id, timeout: float = 180):
    return wait_for(lambda: (s := _state(run_id)) and s.is_final() and s, timeout, "the run to end", 0.5)


def _where(name: str, out: Path, linger: float = 0.0) -> dict:
    """Run ``where-it-runs`` once and read where it ran (the file appears while it runs)."""
    run = _run(name, out, linger)
    if linger:
        wait_for(lambda: out.exists() and out.read_text(), 180, "the run to compute", 0.2)
    else:
        assert _finished(run.id).is_completed()
    return {**json.loads(out.read_text()), "run_id": run.id}


def _a_warm_run(name: str, tmp_path: Path, serving_pid: int) -> dict:
    """Runs until one starts warm (runs start spawned until the fork server is ready)."""
    runs = iter(range(1000))
    return wait_for(
        lambda: (w := _where(name, tmp_path / f"run-{next(runs)}.json")) and w["ppid"] != serving_pid and w,
        240,
        "a run forked from the warm fork server",
        0.5,
    )


def test_a_served_run_starts_forked_from_the_warm_process(tmp_path: Path):
    with served(tmp_path) as (name, serving_pid):
        where = _a_warm_run(name, tmp_path, serving_pid)
        # loaded before the run's code: the flow imports neither, the fork server did
        assert where["great_expectations_loaded"] and where["revenue_flows_loaded"], where
        again = _where(name, tmp_path / "again.json")
        assert again["pid"] != where["pid"], "each run has a process of its own"
        assert again["ppid"] == where["ppid"] != serving_pid, "both forked by the fork server, not the runner"


def test_a_cold_served_run_loads_nothing_ahead(tmp_path: Path):
    """The same checks fail without warm starts: what the warm test sees is their doing."""
    with served(tmp_path, cold=True) as (name, serving_pid):
        where = _where(name, tmp_path / "where.json")
    assert where["great_expectations_loaded"] is False
    assert where["ppid"] == serving_pid  # spawned by the runner itself


EDITED_FLOW = """
from prefect import flow

from tests.integration.warm_flows import where_it_runs  # noqa: F401 - loaded like the pipeline's


@flow(name="edited")
def edited(out: str, linger: float = 0.0) -> None:
    open(out, "w").write({version!r})
"""


@pytest.mark.parametrize("cold", [False, True], ids=["warm", "cold"])
def test_a_flow_edited_while_served_runs_its_new_code(tmp_path: Path, cold: bool):
    """A served flow reaches its run's process by entrypoint: the next run after an edit
    runs the new body (pickled by value, it ran the body as it was when serving began)."""
    module = tmp_path / "edited_flow.py"
    module.write_text(EDITED_FLOW.format(version="v1"))
    with served(tmp_path, cold=cold, entrypoint="edited_flow.py:edited", flow="edited") as (name, _):
        first = _run(name, tmp_path / "first.txt", flow="edited")
        assert _finished(first.id).is_completed()
        module.write_text(EDITED_FLOW.format(version="v2"))
        second = _run(name, tmp_path / "second.txt", flow="edited")
        assert _finished(second.id).is_completed()
    assert (tmp_path / "first.txt").read_text() == "v1"
    assert (tmp_path / "second.txt").read_text() == "v2"


def test_an_edit_while_a_warm_run_computes_leaves_it_running(tmp_path: Path):
    """After the pipeline's code changes, runs start spawned (fresh code) while a run of the
    stale fork server computes; that run is not stopped, and once it has ended the fork
    server is replaced and runs start warm again."""
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelling

    edited = REPO / "flows" / "warm_preload.py"  # its time only: the fork server's code changed
    with served(tmp_path) as (name, serving_pid):
        long = _a_warm_run(name, tmp_path, serving_pid)  # the fork server is ready
        computing = _where(name, tmp_path / "long.json", linger=600)
        assert computing["ppid"] != serving_pid
        os.utime(edited)
        during = _where(name, tmp_path / "during.json")
        assert during["ppid"] == serving_pid and not during["great_expectations_loaded"], "spawned: fresh code"
        assert alive(computing["pid"]), "the stale fork server's run goes on"
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(computing["run_id"], Cancelling(), force=True)
        assert _finished(computing["run_id"], 120).is_cancelled()
        after = _a_warm_run(name, tmp_path, serving_pid)
        assert after["ppid"] != long["ppid"], "a new fork server"


def test_a_warm_run_is_cancelled_and_its_process_stopped(tmp_path: Path):
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelling

    with served(tmp_path) as (name, serving_pid):
        _a_warm_run(name, tmp_path, serving_pid)
        where = _where(name, tmp_path / "long.json", linger=600)
        assert where["ppid"] != serving_pid
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(where["run_id"], Cancelling(), force=True)
        assert _finished(where["run_id"], 120).is_cancelled()
        wait_for(lambda: not alive(where["pid"]), 60, "the run's process to stop", 0.2)


@pytest.mark.parametrize("cold", [False, True], ids=["warm", "cold"])
def test_a_run_ends_with_the_serving_process(tmp_path: Path, cold: bool):
    """SIGKILL of the serving process (nothing of it can clean up): the run's process gets
    SIGTERM instead of computing on as an orphan, warm (the fork server exits) or spawned."""
    with served(tmp_path, cold=cold) as (name, serving_pid):
        if not cold:
            _a_warm_run(name, tmp_path, serving_pid)
        where = _where(name, tmp_path / "long.json", linger=600)
        assert (where["ppid"] == serving_pid) is cold
        os.kill(serving_pid, signal.SIGKILL)
        wait_for(lambda: not alive(where["pid"]), 60, "the orphaned run's process to stop", 0.2)
