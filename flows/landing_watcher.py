"""The landing watcher: a long-lived process (``revenue watch``) that turns files landed in
S3 into Prefect events, the way Dagster's daemon runs sensors. It creates no flow run: an
idle landing zone costs the Prefect server nothing but a heartbeat.

The self-hosted Prefect server has no webhooks, so every ``interval`` seconds the watcher
reads the landing bucket's S3 notifications from SQS when it has a queue, else lists the
landing prefix (on S3 after its cursor, the greatest key listed so far, and in full every
``FULL_LISTING_EVERY``), and registers every object version it has not seen in the landing
registry (which gives it its landing sequence), then, for each landing not announced yet,
emits a ``revenue.file.landed`` event whose resource id is ``s3://bucket/key`` (or the
file's path), labelled ``revenue.environment: <environment>``, with an event id derived from
the landing (URI, ETag, sequence). The ``daily-revenue/on-landing`` deployment's trigger
matches those events by environment and starts the flow with the key: where files land is
configured once, in the environment's landing block.

A landing is marked announced only after its event was sent: a crash in between re-emits
the same event id, which the server stores once, so a replay never double-counts.

The watcher never reads a landed file: it registers and announces it, and the grid it
redraws shows a file not read yet as pending. Reading is for the runs that plan (under the
file's read lease, in a capped child process: ``revenue.io.landing.reads``), so a file that
cannot be read costs the watcher nothing and holds no parsed file between passes.

Liveness: every pass records a heartbeat in the warehouse (``heartbeats``, shown as
"landing zone last checked" in the partition grid and ``revenue status``), and every
``HEARTBEAT_EVENT_EVERY`` a ``revenue.landing.checked`` event (resource
``revenue.landing-watcher.<environment>``) that a Prefect automation can watch for silence.
It also redraws the ``partition-status`` grid when a day changed state without a run (a
source edit makes a day stale) and at least every ``GRID_REDRAW_EVERY``, and takes the
late-day alert's last look at yesterday shortly before its deadline (``announce_due``).

Healing (``flows.healing``, when its switch is on): each pass plans the grid's days and the
heal horizon once (``look_after_days``), and starts the runs that bring the days behind their
input up to date, once their input has been quiet for the settle time: a few ``daily`` runs or
one ``backfill/range`` run, named ``heal-…`` and tagged ``heal``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from prefect.events import Event
from prefect.events.clients import get_events_client
from prefect.events.schemas.events import Resource
from prefect.utilities.asyncutils import run_coro_as_sync

from flows.alert_events import LATE_DAY, alert_mark, deliverable, due_event, run_url
from flows.status_grid import DrawnGrid, redraw_if_changed
from revenue.errors import ConfigurationError
from revenue.io.activity import LANDING_WATCHER, beat, last_beat
from revenue.io.environment import Environment, environment
from revenue.io.landing.listing import watch_once
from revenue.io.landing.versions import LandedVersion
from revenue.io.landing.zone import LANDED_EVENT
from revenue.io.storage import ObjectStore

if TYPE_CHECKING:
    from revenue.status import PartitionStatus

log = logging.getLogger("revenue.watch")

CHECKED_EVENT = "revenue.landing.checked"
ENVIRONMENT_LABEL = "revenue.environment"
HEARTBEAT_EVENT_EVERY = dt.timedelta(minutes=5)
GRID_REDRAW_EVERY = dt.timedelta(minutes=15)
FULL_LISTING_EVERY = dt.timedelta(hours=1)
"""An S3 landing prefix is listed after the cursor (the greatest key listed), and in full
this often: a file landed under a key that sorts before the cursor is seen at most this late."""
"""The watcher redraws the partition grid when a day changed state, and at least this often."""


def landed_event(landed: LandedVersion, config: str) -> Event:
    """The event of one landing: resource id the file's URI, labelled with the environment
    (``revenue.environment``), which is what the on-landing trigger matches: the landing
    location itself is configured once, in the environment's landing block. The resource
    carries only what the object itself says (key, ETag, size), so the Prefect Cloud webhook
    of the push path (``webhooks/``, ``revenue.webhook``) labels it alike; the landing's
    sequence, which only the registry knows, is in the payload."""
    return Event(
        id=landed.event_id,
        event=LANDED_EVENT,
        resource=Resource(
            {
                "prefect.resource.id": landed.uri,
                "prefect.resource.name": landed.key,
                ENVIRONMENT_LABEL: config,
                "revenue.etag": landed.etag,
                "revenue.size": str(landed.size),
            }
        ),
        payload={"key": landed.key, "etag": landed.etag, "size": landed.size, "landing": landed.seq},
    )


def heartbeat_event(config: str, landing: str, announced: int) -> Event:
    return Event(
        event=CHECKED_EVENT,
        resource=Resource(
            {"prefect.resource.id": f"revenue.landing-watcher.{config}", "prefect.resource.name": landing}
        ),
        payload={"announced": announced},
    )


def send_event(event: Event) -> None:
    """Send one event and return only once the events client has sent it."""

    async def send() -> None:
        async with get_events_client() as client:
            await client.emit(event)

    run_coro_as_sync(send())


def watch_pass(
    config: str, seen: set[dt.date] | None = None, full_listing_every: dt.timedelta | None = FULL_LISTING_EVERY
) -> list[str]:
    """One pass: register new landed object versions, emit one ``revenue.file.landed``
    event per landing not announced yet, record the heartbeat, and say what is seen of
    yesterday while it is not published (``announce_due``). Returns the URIs announced."""
    env = environment(config)
    landing = env.landing
    if landing is None:
        raise ConfigurationError(f"environment {config} has no landing block")
    announced = []
    for landed in _new_landings(env, landing, full_listing_every):
        try:
            send_event(landed_event(landed, config))
            env.registry.mark_announced(landed)
            announced.append(landed.uri)
        except Exception as error:  # one bad object never stops the others
            log.error("could not announce %s: %s", landed.uri, error)
    beat(env.warehouse, LANDING_WATCHER, f"{len(announced)} file(s) announced")
    try:  # the late check never costs the landing zone its watcher or its heartbeat
        announce_due(config, env, dt.datetime.now(dt.timezone.utc), set() if seen is None else seen)
    except Exception as error:  # noqa: BLE001 - retried on the next pass
        log.warning("late-day check of %s failed, retrying next pass: %s: %s", config, type(error).__name__, error)
    return announced


def _new_landings(
    env: Environment, landing: ObjectStore, full_listing_every: dt.timedelta | None
) -> list[LandedVersion]:
    """Register what landed since the last pass and return every landing not announced yet:
    from the landing bucket's notification queue when it has one (nothing is listed), else
    by listing the landing prefix: on S3 after the listing cursor, in full once per
    ``full_listing_every`` (None: every pass); a local directory in full every pass.
    A malformed queue message registers nothing and is deleted with the batch (the queue
    logs it); a key breaking the key rule, or a local symbolic link, is skipped by the
    listing (logged once): neither fails the pass, which still writes its heartbeat."""
    queue = env.landing_queue
    if queue is None:
        every = full_listing_every if landing.lists_from_a_key else None
        return watch_once(env.registry, full_listing_every=every)
    received = queue.receive()
    env.registry.register_new([f for message in received for f in message.files], by="watcher (queue)")
    queue.delete(received)  # registered: the registry is the cursor from here
    return env.registry.unannounced()


def look_after_days(config: str, grid: DrawnGrid | None, heal_default: bool | None) -> DrawnGrid | None:
    """The days' states, planned once for the grid and the heal: start the runs that heal
    stale days (``flows.healing``: when the switch is on), then redraw the grid if a day
    changed state. Neither failing costs the watcher its pass."""
    from flows.healing import heal, heal_policy, horizon_days
    from revenue.status import current_statuses, grid_days

    try:
        env = environment(config)
        now = dt.datetime.now(dt.timezone.utc)
        policy = heal_policy(config, env, heal_default)
        shown = grid_days(env)
        days = sorted(set(shown) | set(horizon_days(policy, now.date()))) if policy.enabled else shown
        statuses = current_statuses(env, days)
    except Exception as error:  # noqa: BLE001 - the grid's own refresh says what failed
        log.warning("could not plan the days: %s: %s", type(error).__name__, error)
        return redraw_if_changed(config, grid, GRID_REDRAW_EVERY)
    try:
        if heal(config, env, statuses, policy, now):
            statuses = current_statuses(env, days)  # the days it started show as healing
    except Exception as error:  # noqa: BLE001 - retried on the next pass
        log.warning("healing %s failed, retrying next pass: %s: %s", config, type(error).__name__, error)
    wanted = set(shown)
    return redraw_if_changed(config, grid, GRID_REDRAW_EVERY, [s for s in statuses if s.partition in wanted])


def last_seen(status: PartitionStatus) -> str | None:
    """What a day's status says for the late-day alert; None once it is published."""
    if status.state == "missing":
        return "never started"
    if status.state == "running":
        return "running" + (f" (run {run_url(status.run_id)})" if status.run_id else "")
    if status.state == "failed":
        return f"failed: {status.detail}"
    return None


def announce_due(config: str, env: Environment, now: dt.datetime, seen: set[dt.date]) -> str | None:
    """Yesterday's (UTC) last look, ``last_look`` before its deadline: if it is not published
    then, send ``revenue.partition.due`` with what is seen of it (never started, running,
    failed); the late-day automation fires if no publish follows by the deadline. Once per
    day (``seen``); a watcher that was down sends it as soon as it is back. Returns what was
    sent, if anything."""
    from revenue.deadline import due_at, last_look
    from revenue.status import current_statuses

    day = now.date() - dt.timedelta(days=1)
    deadline = env.block.alert_deadline
    if day in seen or now < due_at(day, deadline) - last_look(deadline):
        return None
    mark = alert_mark("due", config, day.isoformat())
    if last_beat(env.warehouse, mark) is not None:  # sent already (another pass, process or cron run)
        seen.add(day)
        return None
    [status] = current_statuses(env, [day])
    seen_now = last_seen(status)
    if seen_now is not None and deliverable(config, LATE_DAY):  # no late-day automation: nothing to check for
        send_event(due_event(config, day, seen_now, now))
        beat(env.warehouse, mark, seen_now)
    seen.add(day)
    return seen_now


def watch(
    config: str,
    interval: float = 30.0,
    passes: int | None = None,
    sleep: Callable[[float], object] = time.sleep,
    stop: threading.Event | None = None,
    full_listing_every: dt.timedelta | None = FULL_LISTING_EVERY,
    heal: bool | None = None,
) -> int:
    """Watch until stopped (Ctrl-C, ``stop`` set, or after ``passes`` passes); returns the
    files announced. An outage (S3, the database, the Prefect API) is logged and retried on
    the next pass; a configuration error stops it. ``heal``: whether stale days are healed
    when the variable ``revenue_heal_<config>`` is not set (None: the environment block's
    ``heal``; ``revenue dev`` passes True)."""
    if stop is not None:
        sleep = stop.wait
    landing = environment(config).landing
    if landing is None:
        raise ConfigurationError(f"environment {config} has no landing block")
    total, done, last_event, grid = 0, 0, None, None
    seen: set[dt.date] = set()
    log.info("watching %s every %g s", landing.uri(), interval)
    while (passes is None or done < passes) and not (stop is not None and stop.is_set()):
        started = time.monotonic()
        try:
            announced = watch_pass(config, seen, full_listing_every)
            total += len(announced)
            for uri in announced:
                log.info("announced %s", uri)
            now = dt.datetime.now(dt.timezone.utc)
            if announced or last_event is None or now - last_event >= HEARTBEAT_EVENT_EVERY:
                send_event(heartbeat_event(config, landing.uri(), len(announced)))
                last_event = now
            grid = look_after_days(config, grid, heal)
        except ConfigurationError:
            raise
        except Exception as error:  # an outage ends a pass, never the watcher
            log.warning("landing watch pass failed, retrying in %g s: %s: %s", interval, type(error).__name__, error)
        done += 1
        if passes is None or done < passes:
            sleep(max(0.0, interval - (time.monotonic() - started)))
    return total
