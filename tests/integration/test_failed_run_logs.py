"""A failed run's log, as deployments run it: ``python -m prefect.engine`` in a child
process (what ``prefect.serve`` and a process worker start) against this session's API.

The log must end with the cause (the failed day and why), the run must end Failed with
that cause as its message, and no engine traceback may follow it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from uuid import UUID

import pytest

from flows.backfill import backfill
from flows.daily_revenue import daily_revenue
from tests.integration.helpers import REPO, seed_orders, subprocess_env

ENGINE_TIMEOUT_S = 300.0
LOGS_TIMEOUT_S = 60.0
CAUSE = "2026-03-02 failed: quality gate failed for raw_orders partition 2026-03-02"
"""The day has no orders: its raw_orders gate (not empty, critical) fails."""


def run_as_a_deployment_would(flow, entrypoint: str, parameters: dict) -> UUID:
    """Create a flow run and execute it the way a runner or process worker does: the
    engine's module entrypoint in a child process, the flow loaded from its entrypoint."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        run = client.create_flow_run(flow, parameters=parameters)
    env = {
        **subprocess_env(),
        "PREFECT__FLOW_RUN_ID": str(run.id),
        "PREFECT__FLOW_ENTRYPOINT": entrypoint,
        "PREFECT_LOGGING_LEVEL": "INFO",
    }
    done = subprocess.run(
        [sys.executable, "-m", "prefect.engine"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=ENGINE_TIMEOUT_S,
    )
    assert "Finished in state Failed" in done.stdout + done.stderr, (done.returncode, done.stderr[-3000:])
    assert "Traceback" not in done.stderr, done.stderr[-4000:]  # nor on the worker's console
    return run.id


def run_log(run_id: UUID) -> list[str]:
    """The flow run's log lines (its task runs' included) as the server holds them, oldest
    first, once the flow run's "Finished in state ..." line has arrived."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.client.schemas.sorting import LogSort

    deadline = time.monotonic() + LOGS_TIMEOUT_S
    while True:
        with get_client(sync_client=True) as client:
            logs = client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])), sort=LogSort.TIMESTAMP_ASC
            )
        lines = [log.message for log in logs]
        if any(log.task_run_id is None and log.message.startswith("Finished in state") for log in logs):
            return lines
        assert time.monotonic() < deadline, f"the run's last log line never reached the server: {lines}"
        time.sleep(0.5)


@pytest.mark.parametrize(
    ("flow", "entrypoint", "parameters"),
    [
        (daily_revenue, "flows/daily_revenue.py:daily_revenue", {"partition_date": "2026-03-02"}),
        (backfill, "flows/backfill.py:backfill", {"start": "2026-03-01", "end": "2026-03-02"}),
    ],
    ids=["daily_revenue", "backfill"],
)
def test_a_failed_deployment_run_logs_its_cause_and_no_engine_traceback(sqlite_env, flow, entrypoint, parameters):
    from prefect.client.orchestration import get_client

    seed_orders(sqlite_env, [(1, "alice", 10.00, "2026-03-01 10:00:00")])

    run_id = run_as_a_deployment_would(flow, entrypoint, {**parameters, "env": sqlite_env})

    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run_id).state
    assert state is not None and state.is_failed() and CAUSE in (state.message or ""), state
    lines = run_log(run_id)
    text = "\n".join(lines)
    assert any(CAUSE in line for line in lines), text
    assert "Engine execution exited with unexpected exception" not in text, text[-4000:]
    assert "Traceback" not in text, text[-4000:]
    last = lines[-1]
    assert last.startswith("Finished in state Failed") and CAUSE in last, text[-4000:]
