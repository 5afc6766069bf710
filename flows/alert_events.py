"""The events alerts are made from (``alerts.yaml`` declares the automations).

Each names its partition as the resource ``revenue.partition.<environment>.<day>``, labelled
``revenue.environment`` (what the automations match) and ``revenue.partition``; emitted
inside a run, Prefect relates it to the flow and task run. The payload carries everything a
message says (day, environment, cause in plain words, the run's URL), so a message is
readable without opening Prefect. A cause quotes landed files' names and their errors: it is
put into the event as ``revenue.untrusted.alert_text`` makes it (no Slack mention or link,
no markdown link, at most about 500 characters, then a pointer to the run, which has it
whole), because alerts.yaml's templates put it into the message as it is.

What was alerted is also recorded in the warehouse (``heartbeats`` rows named
``alert-...``): the server remembers event ids for only about half an hour, so the record is
what makes ``revenue.partition.failed`` one message per (environment, day, input, cause)
however often and however much later the day is retried or re-run and fails the same way
(a different cause, or new input that fails, is news), ``revenue.partition.due`` one per day
even from ``revenue watch --once`` under cron, and "resolved" follow only a day an alert
was actually sent for. Ids are derived from the same keys, so a crash between sending and
recording re-sends the same id.

Nothing is recorded as alerted unless a message could go out: Prefect's automation, not
this code, sends it, so "sent" here means handed to the environment's automation of that
kind while it exists, is enabled and notifies at least one destination (``deliverable``).
A failure with nowhere to go is still an event (with an id of its own, so that the
server's memory of ids does not swallow the one sent once alerts exist) but marks nothing:
the day's next failure pages. A late day's message is sent by a proactive trigger only if
no publish (or failure) follows the late check in time, so "resolved after late" asks the
server whether that automation's notification was executed for the day's late check
(``late_message_sent``). Each "resolved" closes the alert it resolves (``alert-open-...``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import TYPE_CHECKING, Any

from revenue.deadline import day_closed, due_at
from revenue.untrusted import alert_text

if TYPE_CHECKING:
    from prefect.events import Event

    from revenue.io.warehouse.database import Warehouse

PARTITION_FAILED = "revenue.partition.failed"
PARTITION_RECOVERED = "revenue.partition.recovered"
PARTITION_PUBLISHED = "revenue.partition.published"
PARTITION_DUE = "revenue.partition.due"
FAILED_DAY, LATE_DAY = "failed-day", "late-day"
"""The keys of alerts.yaml's automations whose messages a mark records."""
ACTION_EXECUTED = "prefect.automation.action.executed"
"""What Prefect's server emits once an automation's action ran without error (a
notification: the destination accepted it), related to the event that triggered it."""
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
    """The failed-day event's payload: the cause neutralised and capped for a message."""
    url = run_url(run_id)
    return {"environment": config, "day": day, "cause": alert_text(cause, url), "run_url": url}


def alert_mark(kind: str, config: str, day: str, key: str = "") -> str:
    """The warehouse record of one alert sent (a ``heartbeats`` row name)."""
    digest = hashlib.sha1(key.encode()).hexdigest()[:16] if key else ""
    return f"alert-{kind}-{config}-{day}" + (f"-{digest}" if digest else "")


def deliverable(config: str, key: str) -> bool:
    """Whether a message of ``key`` (``failed-day``, ``late-day``) can go out now: the
    automation ``revenue <config>: <key>`` exists, is enabled and notifies somewhere."""
    from prefect.client.orchestration import get_client

    from blocks.alerts import automation_name

    with get_client(sync_client=True) as client:
        found = client.read_automations_by_name(automation_name(config, key))
    return any(automation.enabled and automation.actions for automation in found)


def open_mark(config: str, day: str) -> str:
    """The warehouse record of the day's latest alert: ``failed``, ``late`` or ``resolved``."""
    return alert_mark("open", config, day)


def emit_failed(
    warehouse: Warehouse, config: str, day: str, cause: str, fingerprint: str | None, run_id: str | None
) -> bool:
    """Send the day's failure unless this (input, cause) was alerted already; whether it was
    handed to an automation that can deliver it (only then is it recorded as alerted)."""
    from prefect.events import emit_event

    from revenue.io.activity import beat, last_beat

    key = f"{fingerprint}|{cause}"
    mark = alert_mark("failed", config, day, key)
    if last_beat(warehouse, mark) is not None:
        return False
    sent = deliverable(config, FAILED_DAY)
    emit_event(
        event=PARTITION_FAILED,
        resource=partition_resource(config, day),
        payload=failed_payload(config, day, cause, run_id),
        id=uuid.uuid5(_NAMESPACE, f"failed|{config}|{day}|{key}" + ("" if sent else "|undeliverable")),
    )
    if sent:
        beat(warehouse, mark, cause[:500])
        beat(warehouse, open_mark(config, day), FAILED_DAY)
    return sent


def due_event_id(config: str, day: str) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"due|{config}|{day}")


def late_message_sent(config: str, day: dt.date) -> bool:
    """Whether the server executed a notification of the late-day automation for the day's
    late check (the check alone sends nothing: a publish within its window cancels it)."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter, EventRelatedFilter

    query = EventFilter(
        occurred=EventOccurredFilter.model_validate(
            {"since": day_closed(day), "until": dt.datetime.now(dt.timezone.utc)}
        ),
        event=EventNameFilter(name=[ACTION_EXECUTED]),
        related=EventRelatedFilter(id=[f"prefect.event.{due_event_id(config, day.isoformat())}"]),
    )
    with get_client(sync_client=True) as client:
        events = client.read_events(query, limit=10).events
    return any(event.payload.get("action_type") == "send-notification" for event in events)


def open_alert(warehouse: Warehouse, config: str, day: dt.date, was: str | None) -> str | None:
    """The alert a publish of ``day`` would resolve (``failed-day``, ``late-day``), if one
    was sent and not resolved yet."""
    from revenue.io.activity import last_beat, last_beat_with_detail

    if was not in ("failed", "missing"):  # nothing was alerted about a day that was published
        return None
    found = last_beat_with_detail(warehouse, open_mark(config, day.isoformat()))
    latest = found[1] if found else None
    if was == "failed" and latest == FAILED_DAY:
        return FAILED_DAY
    if (
        was == "missing"
        and latest != "resolved"
        and last_beat(warehouse, alert_mark("due", config, day.isoformat())) is not None
        and late_message_sent(config, day)
    ):
        return LATE_DAY
    return None


def resolve(
    warehouse: Warehouse, config: str, day: dt.date, was: str | None, deadline: str, outcome: Any, run_id: str | None
) -> str | None:
    """Send "resolved" for the published ``outcome`` of ``day`` if an alert about it went
    out and is not resolved yet, and record it resolved; why, or None."""
    from revenue.io.activity import beat

    why = recovery(was, day, deadline, dt.datetime.now(dt.timezone.utc), open_alert(warehouse, config, day, was))
    if why:
        emit_recovered(config, day.isoformat(), why, outcome.fingerprint, outcome.revenue, outcome.order_count, run_id)
        beat(warehouse, open_mark(config, day.isoformat()), "resolved")
    return why


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


def recovery(was: str | None, day: dt.date, deadline: str, now: dt.datetime, alerted: str | None = None) -> str | None:
    """Why publishing ``day`` now resolves an alert (None when no alert is open): its last
    attempt had failed and that was alerted (``alerted`` is ``failed-day``), or it was never
    published, a late message about it went out (``late-day``) and its deadline passed
    (recent days only)."""
    if was == "failed" and alerted == FAILED_DAY:
        return "its last attempt had failed"
    if was == "missing" and alerted == LATE_DAY and due_at(day, deadline) <= now < day_closed(day) + RECENT:
        return f"it was not published by {deadline} UTC"
    return None


def due_event(config: str, day: dt.date, last_seen: str, seen_at: dt.datetime | None = None) -> Event:
    """Yesterday is not published and its deadline is near: what the landing watcher saw of
    it at its last look, and when (the message goes out up to a window later: the time says
    how old "last seen" is). The late-day automation then waits for the day's publish or
    failure until the deadline (its window starts now); one event per day."""
    from prefect.events import Event
    from prefect.events.schemas.events import Resource

    seen_at = seen_at or dt.datetime.now(dt.timezone.utc)
    return Event(
        id=due_event_id(config, day.isoformat()),
        event=PARTITION_DUE,
        resource=Resource(partition_resource(config, day.isoformat())),
        payload={
            "environment": config,
            "day": day.isoformat(),
            "last_seen": alert_text(last_seen),
            "seen_at": seen_at.strftime("%H:%M:%S UTC"),
        },
    )
