"""The ``landing-watcher`` flow: turns files landed in S3 into Prefect events.

The self-hosted Prefect server has no webhooks, so this flow (deployed on a schedule)
lists the landing prefix and registers every object version it has not seen in the landing
registry (which gives it its landing sequence), then, for each landing not announced yet,
emits a ``revenue.file.landed`` event whose resource id is ``s3://bucket/key``, with an
event id derived from the landing (URI, ETag, sequence). The ``daily-revenue/on-landing``
deployment's trigger matches those events and starts the flow with the key.

A landing is marked announced only after its event was sent: a crash in between re-emits
the same event id, which the server stores once, so a replay never double-counts.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.events import Event
from prefect.events.clients import get_events_client
from prefect.utilities.asyncutils import run_coro_as_sync

from flows.daily_revenue import DEFAULT_CONFIG
from flows.partition import IO_RETRIES
from revenue.errors import ConfigurationError
from revenue.io.environment import environment
from revenue.io.landing import LANDED_EVENT
from revenue.io.registry import LandedVersion, watch_once


def landed_event(landed: LandedVersion) -> Event:
    return Event(
        id=landed.event_id,
        event=LANDED_EVENT,
        resource={
            "prefect.resource.id": landed.uri,
            "prefect.resource.name": landed.key,
            "revenue.etag": landed.etag,
            "revenue.size": str(landed.size),
            "revenue.landing": str(landed.seq),
        },
        payload={"key": landed.key, "etag": landed.etag, "size": landed.size, "landing": landed.seq},
    )


def send_event(event: Event) -> None:
    """Send one event and return only once the events client has sent it."""

    async def send() -> None:
        async with get_events_client() as client:
            await client.emit(event)

    run_coro_as_sync(send())


@task(name="announce_landed_file", **IO_RETRIES)
def announce(config: str, landed: LandedVersion) -> str:
    send_event(landed_event(landed))
    environment(config).registry.mark_announced(landed)
    return landed.uri


@flow(name="landing-watcher")
def landing_watcher(config: str = DEFAULT_CONFIG) -> list[str]:
    """Register new landed object versions and emit one ``revenue.file.landed`` event per landing."""
    env = environment(config)
    if env.landing is None:
        raise ConfigurationError(f"environment {config} has no landing block")
    announced = []
    for landed in watch_once(env.registry):
        try:
            announced.append(announce(config, landed))
        except Exception as error:  # one bad object never stops the others
            get_run_logger().error("could not announce %s: %s", landed.uri, error)
    get_run_logger().info("announced %d new landed file(s)", len(announced))
    return announced
