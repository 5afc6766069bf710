"""The events alerts are made from (``alerts.yaml`` declares the automations).

Each names its partition as the resource ``revenue.partition.<environment>.<day>``, labelled
``revenue.environment`` (what the automations match) and ``revenue.partition``; emitted
inside a run, Prefect relates it to the flow and task run. The payload carries everything a
message says (day, environment, cause in plain words, the run's URL), so a message is
readable without opening Prefect.

Ids are derived, not random: the server stores an event id once and its automations act on
it once, so ``revenue.partition.failed`` is one message per (environment, day, cause) however
often the day is retried or re-run and fails the same way; a different cause is news.
"""

from __future__ import annotations

import uuid
from typing import Any

PARTITION_FAILED = "revenue.partition.failed"
PARTITION_RECOVERED = "revenue.partition.recovered"
_NAMESPACE = uuid.UUID("8f6e0d52-3c55-4d0e-9f59-7b0a8f7c2a11")


def partition_resource(config: str, day: str) -> dict[str, str]:
    return {
        "prefect.resource.id": f"revenue.partition.{config}.{day}",
        "prefect.resource.name": f"{day} ({config})",
        "revenue.environment": config,
        "revenue.partition": day,
    }


def run_url(run_id: str | None) -> str:
    """The flow run's page in the Prefect UI ("" outside a run or without a UI URL)."""
    if not run_id:
        return ""
    from prefect.utilities.urls import url_for

    return url_for("flow-run", obj_id=run_id) or ""


def failed_payload(config: str, day: str, cause: str, run_id: str | None) -> dict[str, Any]:
    return {"environment": config, "day": day, "cause": cause, "run_url": run_url(run_id)}


def emit_failed(config: str, day: str, cause: str, run_id: str | None) -> None:
    from prefect.events import emit_event

    emit_event(event=PARTITION_FAILED, resource=partition_resource(config, day),
               payload=failed_payload(config, day, cause, run_id),
               id=uuid.uuid5(_NAMESPACE, f"failed|{config}|{day}|{cause}"))


def emit_recovered(config: str, day: str, was: str, fingerprint: str | None, revenue: Any, order_count: int | None,
                   run_id: str | None) -> None:
    from prefect.events import emit_event

    emit_event(event=PARTITION_RECOVERED, resource=partition_resource(config, day),
               payload={"environment": config, "day": day, "was": was, "revenue": f"{revenue:,.2f}",
                        "order_count": order_count, "run_url": run_url(run_id)},
               id=uuid.uuid5(_NAMESPACE, f"recovered|{config}|{day}|{fingerprint}"))
