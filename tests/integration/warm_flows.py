"""Flows the warm-start tests serve (importable by module, as served flows are)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from prefect import flow


@flow(name="where-it-runs")
def where_it_runs(out: str, linger: float = 0.0) -> None:
    """Record, from inside the run, which process runs it and what it found loaded."""
    Path(out).write_text(
        json.dumps(
            {
                "pid": os.getpid(),
                "ppid": os.getppid(),
                "great_expectations_loaded": "great_expectations" in sys.modules,
                "revenue_flows_loaded": "flows.daily_revenue" in sys.modules,
            }
        )
    )
    deadline = time.monotonic() + linger
    while time.monotonic() < deadline:  # a run that is still computing (to be cancelled or orphaned)
        time.sleep(0.1)
