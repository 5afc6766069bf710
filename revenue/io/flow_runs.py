"""Flow runs read from the Prefect API by id (the heal's runs)."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID


def run_states(run_ids: Iterable[str | None]) -> dict[str, str]:
    """The state type (``COMPLETED``, ``CANCELLED``, ...) of each flow run, by id: one API
    call, none when there is no id; an id that is no UUID or no run is left out."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    ids = set()
    for run_id in run_ids:
        try:
            ids.add(UUID(str(run_id)))
        except ValueError:
            continue
    if not ids:
        return {}
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=sorted(ids))), limit=len(ids)
        )
    return {str(r.id): r.state.type.value for r in runs if r.state is not None}
