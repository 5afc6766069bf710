"""The read lease of a pending landing: one process reads a landed file at a time.

The lease is three columns of the landing's ``landing_registry`` row (one row per landing):
``lease_owner`` (host:pid:token), ``lease_expires`` and ``read_attempts`` (readings started).
It is taken by one conditional UPDATE (free or expired), renewed while a child process reads
the file (``revenue.io.landing.isolated_read``), and given back unread only on a service
outage. A file whose reading stopped twice without finishing (its readers killed) is not read
a third time: ``revenue.io.landing.reads`` records it unreadable.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from typing import TYPE_CHECKING, Final, Literal

import sqlalchemy as sa

from revenue.io.landing.versions import PENDING, LandedVersion, utc_now
from revenue.settings import LANDING_LEASE_SECONDS

if TYPE_CHECKING:
    from revenue.io.landing.registry import LandingRegistry

MAX_READ_ATTEMPTS = 2
STOPPED_TWICE = "reading it stopped twice without finishing"

Claim = Literal["claimed", "busy", "done", "stopped twice"]
"""What trying to take a lease found: taken (``claimed``), held by a live reader (``busy``),
the landing read already (``done``), or a third reading not to start (``stopped twice``)."""
CLAIMED: Final = "claimed"
BUSY: Final = "busy"
DONE: Final = "done"
NOT_AGAIN: Final = "stopped twice"


def lease_duration() -> dt.timedelta:
    """A read lease's life without renewal (``REVENUE_LANDING_LEASE_SECONDS``, else 60 s)."""
    return dt.timedelta(seconds=LANDING_LEASE_SECONDS.value())


def lease_owner() -> str:
    """Who holds a lease: host, process and this reading (unique per call)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def claim(registry: LandingRegistry, version: LandedVersion, owner: str) -> Claim:
    """Take the lease of a pending landing with one conditional UPDATE: it is free, or
    its holder stopped renewing it (a killed process). The third reading of a file whose
    two readings stopped without finishing is not started (``stopped twice``)."""
    now = utc_now()
    files = registry.files
    with (
        registry.warehouse.service("leasing a landed file"),
        registry.warehouse.engine.begin() as connection,
    ):
        claimed = connection.execute(
            files.update()
            .where(
                files.c.seq == version.seq,
                files.c.read_status == PENDING,
                sa.or_(files.c.lease_owner.is_(None), files.c.lease_expires < now),
            )
            .values(
                lease_owner=owner,
                lease_expires=now + lease_duration(),
                read_attempts=sa.func.coalesce(files.c.read_attempts, 0) + 1,
            )
        ).rowcount
        row = (
            connection.execute(sa.select(files.c.read_status, files.c.read_attempts).where(files.c.seq == version.seq))
            .mappings()
            .one()
        )
    if not claimed:
        return BUSY if row["read_status"] == PENDING else DONE
    return NOT_AGAIN if row["read_attempts"] > MAX_READ_ATTEMPTS else CLAIMED


def renew(registry: LandingRegistry, version: LandedVersion, owner: str) -> None:
    """Keep the lease while reading (a lease taken over meanwhile is not taken back:
    whoever records first wins, the other's record is a no-op)."""
    files = registry.files
    with registry.warehouse.service("renewing a landed file's lease"), registry.warehouse.engine.begin() as connection:
        connection.execute(
            files.update()
            .where(files.c.seq == version.seq, files.c.lease_owner == owner)
            .values(lease_expires=utc_now() + lease_duration())
        )


def release(registry: LandingRegistry, version: LandedVersion, owner: str) -> None:
    """Give the lease back unread (a service outage): that reading does not count."""
    files = registry.files
    with registry.warehouse.engine.begin() as connection:
        connection.execute(
            files.update()
            .where(files.c.seq == version.seq, files.c.lease_owner == owner, files.c.read_status == PENDING)
            .values(lease_owner=None, lease_expires=None, read_attempts=files.c.read_attempts - 1)
        )
