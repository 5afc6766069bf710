"""``revenue dev`` leaves no flow run ``Running``: when it stops it cancels its runner's
unfinished runs and the runs it started itself, and when it starts it sets Crashed the runs an
earlier, killed ``revenue dev`` left unfinished (stopping its processes still running them).
Runs of deployments on a work pool (a worker's, not ``revenue dev``'s) and runs that are
merely scheduled are left alone. Against the session's Prefect server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid

from prefect import task
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.states import Cancelling, Pending, Running, Scheduled

from cli.dev import cancel_own_runs, settle_runs_left_behind


@task
def _partition() -> None:
    """A task whose run the test creates in a flow run (never called)."""


def _deployments(client, flow_name: str) -> tuple[str, str, str]:
    """A served deployment, a second one, and one on a work pool, of a new flow; their names."""
    flow_id = client.create_flow_from_name(flow_name)
    pool = f"pool-{uuid.uuid4().hex[:8]}"
    client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
    names = ("served", "served-too", "pooled")
    ids = [
        client.create_deployment(flow_id=flow_id, name=name, work_pool_name=pool if name == "pooled" else None)
        for name in names
    ]
    return ids[0], ids[1], ids[2]


def _run(client, deployment_id, state, key: str | None = None):
    run = client.create_flow_run_from_deployment(deployment_id, idempotency_key=key)
    client.set_flow_run_state(run.id, state, force=True)
    return run.id


def _state(client, run_id) -> str:
    return client.read_flow_run(run_id).state.type.value


def test_on_start_the_runs_an_earlier_dev_left_unfinished_are_crashed():
    flow_name = f"left-{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:
        served, served_too, pooled = _deployments(client, flow_name)
        running = _run(client, served, Running())
        pending = _run(client, served_too, Pending())
        cancelling = _run(client, served, Cancelling())
        scheduled = _run(client, served, Scheduled())
        on_pool = _run(client, pooled, Running())
        # the killed revenue dev's child still executing its run (a killed parent leaves it)
        orphan = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(600)"],
            env={**os.environ, "PREFECT__FLOW_RUN_ID": str(running)},
        )
        unrelated = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        try:
            settle_runs_left_behind([f"{flow_name}/served", f"{flow_name}/served-too", f"{flow_name}/pooled"])
            assert orphan.wait(timeout=60) == -signal.SIGTERM
            assert unrelated.poll() is None
        finally:
            for process in (orphan, unrelated):
                if process.poll() is None:
                    process.kill()
                    process.wait(timeout=60)

        assert [_state(client, r) for r in (running, pending)] == ["CRASHED"] * 2
        assert _state(client, cancelling) in ("CRASHED", "CANCELLED")  # the server may end it first
        assert client.read_flow_run(running).state.message.startswith("the revenue dev that ran it stopped")
        assert _state(client, scheduled) == "SCHEDULED"  # the restarted runner runs it
        assert _state(client, on_pool) == "RUNNING"  # a worker's


def test_on_stop_the_runners_unfinished_runs_and_its_own_are_cancelled():
    flow_name = f"stop-{uuid.uuid4().hex[:8]}"
    config = "local"
    with get_client(sync_client=True) as client:
        served, served_too, pooled = _deployments(client, flow_name)
        running = _run(client, served, Running())
        partition = client.create_task_run(_partition, running, "partition-2026-03-01", state=Running())
        pending = _run(client, served_too, Pending())
        own_scheduled = _run(
            client, served, Scheduled(), key=f"revenue-dev-{config}-2026-03-01-2026-03-07-{os.getpid()}"
        )
        other_scheduled = _run(client, served, Scheduled(), key=f"revenue-dev-{config}-2026-03-01-2026-03-07-1")
        on_pool = _run(client, pooled, Running())

        cancel_own_runs([f"{flow_name}/served", f"{flow_name}/served-too", f"{flow_name}/pooled"], config)

        assert [_state(client, r) for r in (running, pending, own_scheduled)] == ["CANCELLED"] * 3
        assert client.read_task_run(partition.id).state.type.value == "CANCELLED"  # not left Running in the UI
        assert _state(client, other_scheduled) == "SCHEDULED"
        assert _state(client, on_pool) == "RUNNING"


def test_on_stop_a_run_its_own_process_ended_crashed_on_the_ctrl_c_is_cancelled():
    """Ctrl-C reaches the served flow runs' processes too (one process group): a run whose
    engine reported its interrupt first ("Execution was aborted by an interrupt signal.")
    was stopped by the user, like the others: Cancelled. A crash before this revenue dev
    started serving, or of another cause, is left as it is."""
    import datetime as dt

    from prefect.states import Crashed

    interrupted = "Execution was aborted by an interrupt signal."
    flow_name = f"interrupted-{uuid.uuid4().hex[:8]}"
    with get_client(sync_client=True) as client:
        served, _, pooled = _deployments(client, flow_name)
        before = _run(client, served, Crashed(message=interrupted))
        since = dt.datetime.now(dt.timezone.utc)
        by_ctrl_c = _run(client, served, Crashed(message=interrupted))
        other_cause = _run(client, served, Crashed(message="the process ran out of memory"))
        on_pool = _run(client, pooled, Crashed(message=interrupted))

        cancel_own_runs([f"{flow_name}/served", f"{flow_name}/pooled"], "local", since=since)

        assert _state(client, by_ctrl_c) == "CANCELLED"
        assert [_state(client, r) for r in (before, other_cause, on_pool)] == ["CRASHED"] * 3
