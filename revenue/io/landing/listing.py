"""The watcher's listing pass over the landing prefix (``watch_once``), after a cursor.

Without a full-listing period the whole prefix is listed every pass. With one (S3), a pass
lists after the cursor (S3's ``StartAfter``: the greatest key listed so far), so it costs
what landed since, not every file ever landed; the whole prefix is listed again once per
period, which finds (that late, at most) a file landed under a key that sorts before the
cursor and an object replaced in place. (With an SQS queue the watcher lists nothing:
``revenue.io.landing.queue``.)

Both marks are rows of the warehouse's ``heartbeats`` table (``revenue.io.activity``), one
per landing location: ``LISTING_CURSOR`` (its detail the greatest key listed so far) and
``FULL_LISTING`` (when the whole prefix was last listed). Kept in the warehouse, so a
restarted or cron-started watcher goes on from them; a changed landing block, or another
environment on the same warehouse, starts from none.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from revenue.io.activity import beat, last_beat, last_beat_with_detail
from revenue.io.landing.versions import LandedVersion
from revenue.io.landing.zone import LandedFile, listed_files

if TYPE_CHECKING:
    from revenue.io.landing.registry import LandingRegistry

LISTING_CURSOR = "landing-listing-cursor"
"""Heartbeat row (one per landing location) whose detail is the greatest key listed so far."""
FULL_LISTING = "landing-full-listing"
"""Heartbeat row (one per landing location): when the whole landing prefix was last listed."""


def watch_once(registry: LandingRegistry, full_listing_every: dt.timedelta | None = None) -> list[LandedVersion]:
    """One listing pass of the landing zone: register new versions, return the landings
    whose event is still to be sent (including ones a crash left unannounced). Without
    ``full_listing_every`` the whole landing prefix is listed; with it, after the cursor,
    and in full once per ``full_listing_every``."""
    start_after = listing_cursor(registry, full_listing_every) if full_listing_every is not None else None
    listed = listed_files(registry.landing, start_after=start_after)
    registry.register_new(listed, by="watcher")
    if full_listing_every is not None:
        advance_listing_cursor(registry, listed, start_after)
    return registry.unannounced()


def listing_cursor(registry: LandingRegistry, full_listing_every: dt.timedelta) -> str | None:
    """The key the next listing starts after: the greatest key listed so far, or None
    when the whole prefix is due to be listed (never yet, or ``full_listing_every`` ago)."""
    full = last_beat(registry.warehouse, _mark(registry, FULL_LISTING))
    if full is None or dt.datetime.now(dt.timezone.utc) - full >= full_listing_every:
        return None
    cursor = last_beat_with_detail(registry.warehouse, _mark(registry, LISTING_CURSOR))
    return cursor[1] if cursor else None


def advance_listing_cursor(registry: LandingRegistry, listed: Sequence[LandedFile], start_after: str | None) -> None:
    """After the listed files are registered: the cursor moves to the greatest key seen
    (never back); a listing that started nowhere is recorded as the full listing."""
    previous = last_beat_with_detail(registry.warehouse, _mark(registry, LISTING_CURSOR))
    old = previous[1] if previous else None
    new = max([f.key for f in listed] + ([old] if old else []), default=None)
    if new is not None and new != old:
        beat(registry.warehouse, _mark(registry, LISTING_CURSOR), new)
    if start_after is None:
        beat(registry.warehouse, _mark(registry, FULL_LISTING), f"{len(listed)} file(s) under the landing prefix")


def _mark(registry: LandingRegistry, name: str) -> str:
    """The heartbeat row of ``name`` for this landing location."""
    return f"{name} {registry.landing.uri()}"
