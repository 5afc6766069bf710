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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from testkit.waiting import wait_for
from tests.integration.helpers import REPO, subprocess_env

pytestmark = pytest.mark.slow


@contextmanager
def served(tmp_path: Path, cold: bool = False) -> Iterator[str]:
    """``where-it-runs`` served by a process of its own, as ``revenue dev`` serves: the
    deployment's name."""
    name = f"warm-{uuid.uuid4().hex[:8]}"
    args = [sys.executable, "-m", "tests.integration.serve_warm", name, *(["--cold"] if cold else [])]
    with open(tmp_path / f"{name}.out", "wb") as out:
        process = subprocess.Popen(args, cwd=REPO, env=subprocess_env(), stdout=out, stderr=subprocess.STDOUT)
    try:
        yield name
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _run(name: str, out: Path, linger: float = 0.0):
    from prefect.deployments import run_deployment

    return run_deployment(f"where-it-runs/{name}", parameters={"out": str(out), "linger": linger}, timeout=0)


def _state(run_id):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(run_id).state


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _deployed(name: str) -> bool:
    from prefect.client.orchestration import get_client

    try:
        with get_client(sync_client=True) as client:
            return bool(client.read_deployment_by_name(f"where-it-runs/{name}"))
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


def test_a_served_run_starts_forked_from_the_warm_process(tmp_path: Path):
    out = tmp_path / "where.json"
    with served(tmp_path) as name:
        wait_for(lambda: _deployed(name), 120, "the deployment to be served", 0.5)
        run = _run(name, out)
        state = wait_for(lambda: (s := _state(run.id)) and s.is_final() and s, 180, "the run to end", 0.5)
        assert state.is_completed(), state.message
        where = json.loads(out.read_text())
        # loaded before the run's code: the flow imports neither, the fork server did
        assert where["great_expectations_loaded"] and where["revenue_flows_loaded"], where
        second = tmp_path / "second.json"
        run = _run(name, second)
        wait_for(lambda: (s := _state(run.id)) and s.is_final(), 180, "the second run to end", 0.5)
        again = json.loads(second.read_text())
        assert again["pid"] != where["pid"], "each run has a process of its own"
        assert again["ppid"] == where["ppid"], "both forked by the one fork server"


def test_a_cold_served_run_loads_nothing_ahead(tmp_path: Path):
    """The same check fails without warm starts: what the warm test sees is their doing."""
    out = tmp_path / "where.json"
    with served(tmp_path, cold=True) as name:
        wait_for(lambda: _deployed(name), 120, "the deployment to be served", 0.5)
        run = _run(name, out)
        wait_for(lambda: (s := _state(run.id)) and s.is_final(), 180, "the run to end", 0.5)
    assert json.loads(out.read_text())["great_expectations_loaded"] is False


def test_a_warm_run_is_cancelled_and_its_process_stopped(tmp_path: Path):
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelling

    out = tmp_path / "where.json"
    with served(tmp_path) as name:
        wait_for(lambda: _deployed(name), 120, "the deployment to be served", 0.5)
        run = _run(name, out, linger=600)
        wait_for(lambda: out.exists() and out.read_text(), 180, "the run to compute", 0.2)
        pid = json.loads(out.read_text())["pid"]
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(run.id, Cancelling(), force=True)
        state = wait_for(lambda: (s := _state(run.id)) and s.is_final() and s, 120, "the run to be cancelled", 0.5)
        assert state.is_cancelled(), state
        wait_for(lambda: not _alive(pid), 60, "the run's process to stop", 0.2)


def test_a_warm_run_ends_with_the_serving_process(tmp_path: Path):
    """SIGKILL of the serving process (nothing of it can clean up): the fork server exits and
    the run's process gets SIGTERM instead of computing on as an orphan."""
    out = tmp_path / "where.json"
    name = f"warm-{uuid.uuid4().hex[:8]}"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.serve_warm", name],
        cwd=REPO,
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: _deployed(name), 120, "the deployment to be served", 0.5)
        _run(name, out, linger=600)
        wait_for(lambda: out.exists() and out.read_text(), 180, "the run to compute", 0.2)
        pid = json.loads(out.read_text())["pid"]
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        wait_for(lambda: not _alive(pid), 60, "the orphaned run's process to stop", 0.2)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
