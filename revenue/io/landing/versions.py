"""A registered landing of a file version and what reading it found: the values the landing
modules pass around. No table and no IO here (the tables are ``revenue.io.landing.tables``).

A landing's ``read_status`` (a column of ``landing_registry``, one row per landing) is one of
``ReadStatus``: ``pending`` (not read yet), ``read``, ``unreadable`` (it cannot be read, or no
row has a usable ``order_date``) or ``replaced`` (the object changed or was deleted before it
was read: its bytes are gone).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Final, Literal, get_args

from sqlalchemy import RowMapping

from revenue.io.landing.zone import EVENT_NAMESPACE, LandedFile

ReadStatus = Literal["pending", "read", "unreadable", "replaced"]
PENDING: Final = "pending"
READ: Final = "read"
UNREADABLE: Final = "unreadable"
REPLACED: Final = "replaced"
READ_STATUSES: tuple[ReadStatus, ...] = get_args(ReadStatus)

REGISTERED_BY_RUN = "run"
"""``registered_by`` of a landing a flow run registered itself (``register_landed_key``)."""


def read_status(value: object) -> ReadStatus:
    """A ``read_status`` as stored, checked: ``ValueError`` for any other value."""
    for status in READ_STATUSES:
        if value == status:
            return status
    raise ValueError(f"not a landing read status: {value!r} (one of {', '.join(READ_STATUSES)})")


@dataclass(frozen=True)
class LandedVersion:
    """One registered landing of a file version."""

    seq: int
    uri: str
    key: str
    etag: str
    size: int

    @property
    def event_id(self) -> uuid.UUID:
        """Deterministic per landing: a replay of the same landing has the same id (the
        server stores it once); the same bytes landed again after another version do not."""
        return uuid.uuid5(EVENT_NAMESPACE, f"{self.uri}@{self.etag}#{self.seq}")

    @property
    def file(self) -> LandedFile:
        return LandedFile(uri=self.uri, key=self.key, etag=self.etag, size=self.size)


@dataclass(frozen=True)
class Registration:
    """A landing and what reading it found."""

    version: LandedVersion
    read_status: ReadStatus
    rows: int | None
    error: str | None
    days: tuple[dt.date, ...] = ()


def version_of(row: RowMapping) -> LandedVersion:
    """The landing a ``landing_registry`` row records."""
    return LandedVersion(seq=int(row["seq"]), uri=row["uri"], key=row["key"], etag=row["etag"], size=int(row["size"]))


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)
