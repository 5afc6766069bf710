"""``start_run``: the one way the project starts a deployment run for some days (a chunk of
a multi-run backfill, a heal run): now, without waiting for it, under an idempotency key,
so a caller asking again (a retried parent, a restarted watcher) finds the run it started
instead of starting a second one."""

from __future__ import annotations

from typing import Any, cast
from uuid import UUID

from prefect.client.schemas.objects import FlowRun


def start_run(
    deployment: str | UUID, parameters: dict[str, Any], key: str, name: str, tags: list[str], as_subflow: bool
) -> FlowRun:
    """The run of ``deployment`` under ``key``: started now, or the one already started."""
    from prefect.deployments import run_deployment

    return cast(
        FlowRun,
        run_deployment(
            deployment,
            parameters=parameters,
            timeout=0,
            idempotency_key=key,
            as_subflow=as_subflow,
            flow_run_name=name,
            tags=tags,
        ),
    )
