"""The events alerts are made from (``alerts.yaml`` declares the automations).

Each names its partition as the resource ``revenue.partition.<environment>.<day>``, labelled
``revenue.environment`` (what the automations match) and ``revenue.partition``; emitted
inside a run, Prefect relates it to the flow and task run. The payload carries everything a
message says (day, environment, cause in plain words, the run's URL), so a message is
readable without opening Prefect.

What was alerted is also recorded in the warehouse (``heartbeats`` rows named
``alert-...``): the server remembers event ids for only about half an hour, so the record is
what makes ``revenue.partition.failed`` one message per (environment, day, input, cause)
however often and however much later the day is retried or re-run and fails the same way
(a different cause, or new input that fails, is news), ``revenue.partition.due`` one per day
even from ``revenue watch --once`` under cron, and "resolved after late" follow only a day
the late check was actually sent for. Ids are derived from the same keys, so a crash between
sending and recording re-sends the same id.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Any

from revenue.deadline import day_closed, due_at

PARTITION_FAILED = "revenue.partition.failed"
PARTITION_RECOVERED = "revenue.partition.recovered"
PARTITION_PUBLISHED = "revenue.partition.published"
PARTITION_DUE = "revenue.partition.due"
RECENT = dt.timedelta(days=7)
"""A day published for the first time after its deadline is a recovery from the late-day
alert only if it is this recent (a backfill of old days is not news)."""
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


def alert_mark(kind: str, config: str, day: str, key: str = "") -> str:
    """The warehouse record of one alert sent (a ``heartbeats`` row name)."""
    digest = hashlib.sha1(key.encode()).hexdigest()[:16] if key else ""
    return f"alert-{kind}-{config}-{day}" + (f"-{digest}" if digest else "")


def emit_failed(warehouse, config: str, day: str, cause: str, fingerprint: str | None, run_id: str | None) -> bool:
    """Send the day's failure unless this (input, cause) was alerted already; whether sent."""
    from prefect.events import emit_event

    from revenue.io.activity import beat, last_beat

    key = f"{fingerprint}|{cause}"
    mark = alert_mark("failed", config, day, key)
    if last_beat(warehouse, mark) is not None:
        return False
    emit_event(
        event=PARTITION_FAILED,
        resource=partition_resource(config, day),
        payload=failed_payload(config, day, cause, run_id),
        id=uuid.uuid5(_NAMESPACE, f"failed|{config}|{day}|{key}"),
    )
    beat(warehouse, mark, cause[:500])
    return True


def emit_recovered(
    config: str, day: str, was: str, fingerprint: str | None, revenue: Any, order_count: int | None, run_id: str | None
) -> None:
    from prefect.events import emit_event

    emit_event(
        event=PARTITION_RECOVERED,
        resource=partition_resource(config, day),
        payload={
            "environment": config,
            "day": day,
            "was": was,
            "revenue": f"{revenue:,.2f}",
            "order_count": order_count,
            "run_url": run_url(run_id),
        },
        id=uuid.uuid5(_NAMESPACE, f"recovered|{config}|{day}|{fingerprint}"),
    )


def emit_published(config: str, day: str, fingerprint: str | None, run_id: str | None) -> None:
    """What the late-day alert waits for (one event per published version of the day)."""
    from prefect.events import emit_event

    emit_event(
        event=PARTITION_PUBLISHED,
        resource=partition_resource(config, day),
        payload={"environment": config, "day": day, "fingerprint": fingerprint, "run_url": run_url(run_id)},
        id=uuid.uuid5(_NAMESPACE, f"published|{config}|{day}|{fingerprint}|{run_id}"),
    )


def recovery(was: str | None, day: dt.date, deadline: str, now: dt.datetime, due_sent: bool = False) -> str | None:
    """Why publishing ``day`` now resolves an alert (None when none was sent): its last
    attempt had failed, or it was never published, its late check was sent (``due_sent``)
    and its deadline passed (recent days only)."""
    if was == "failed":
        return "its last attempt had failed"
    if was == "missing" and due_sent and due_at(day, deadline) <= now < day_closed(day) + RECENT:
        return f"it was not published by {deadline} UTC"
    return None


def due_event(config: str, day: dt.date, last_seen: str):
    """Yesterday is not published and its deadline is near: what the landing watcher saw of
    it at its last look. The late-day automation then waits for the day's publish until the
    deadline (its window starts now); one event per day."""
    from prefect.events import Event
    from prefect.events.schemas.events import Resource

    return Event(
        id=uuid.uuid5(_NAMESPACE, f"due|{config}|{day}"),
        event=PARTITION_DUE,
        resource=Resource(partition_resource(config, day.isoformat())),
        payload={"environment": config, "day": day.isoformat(), "last_seen": last_seen},
    )
