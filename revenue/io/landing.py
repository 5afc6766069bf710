"""The landing zone: files of orders dropped under the landing prefix of a bucket.

- ``resolve_landed``: turns an event's resource id (``s3://bucket/prefix/key``) or a key
  into a ``LandedFile``, refusing anything outside the configured landing prefix (no
  reading outside it) and reading the object's current ETag.
- ``mark_error``: records an unreadable file under ``_errors/`` of the landing prefix
  (the original stays where it landed).
- ``pending_files``: what the watcher has not emitted an event for yet.

Grain of ``landing_cursor`` (a warehouse table, see ``revenue.io.warehouse``): one row per (``uri``, ``etag``) the
watcher has emitted a ``revenue.file.landed`` event for. The watcher inserts the row only
after the event is sent, so a crash in between re-emits (with the same deterministic
event id, which the Prefect server stores once) rather than loses a file.
"""

from __future__ import annotations

import datetime as dt
import json
import posixpath
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from revenue.io.storage import ObjectStore, StoredObject

if TYPE_CHECKING:
    from revenue.io.warehouse import Warehouse

LANDED_EVENT = "revenue.file.landed"
RESERVED_PREFIXES = ("_errors/", "_state/")
EVENT_NAMESPACE = uuid.UUID("5d1f5a3e-8f0c-4a77-9f3e-0c6a2b9d7e11")


class LandingKeyError(ValueError):
    """A key outside the landing prefix, or one that does not exist."""


@dataclass(frozen=True)
class LandedFile:
    """One landed object: its URI (the event resource id), key in the landing store, ETag."""

    uri: str
    key: str
    etag: str
    size: int

    @property
    def event_id(self) -> uuid.UUID:
        """Deterministic: the same object version always gets the same event id."""
        return uuid.uuid5(EVENT_NAMESPACE, f"{self.uri}@{self.etag}")


def resolve_landed(store: ObjectStore, key_or_uri: str) -> LandedFile:
    """The landed file named by ``key_or_uri``, checked to lie under the landing prefix."""
    root = store.uri().rstrip("/") + "/"
    text = key_or_uri.strip()
    if "://" in text:
        if not text.startswith(root):
            raise LandingKeyError(f"landed file {text}: outside the landing prefix {root}")
        relative = text[len(root):]
    else:
        relative = text.lstrip("/")
    normalized = posixpath.normpath(relative) if relative else ""
    if not normalized or normalized.startswith("..") or normalized != relative or normalized.startswith(RESERVED_PREFIXES):
        raise LandingKeyError(f"landed file {text}: not a file key under the landing prefix {root}")
    head = store.head(normalized)
    if head is None:
        raise LandingKeyError(f"landed file {store.uri(normalized)}: no such object")
    return LandedFile(uri=store.uri(normalized), key=normalized, etag=head.etag, size=head.size)


def mark_error(store: ObjectStore, landed: LandedFile, reason: str) -> str:
    """Record why a landed file was rejected, under ``_errors/``; returns the marker key."""
    marker = f"_errors/{landed.key}.error.json"
    body = {
        "uri": landed.uri, "etag": landed.etag, "reason": reason,
        "rejected_at": dt.datetime.now(dt.timezone.utc).isoformat(),
    }
    store.put(marker, json.dumps(body, indent=2).encode())
    return marker


def listed_files(store: ObjectStore) -> list[LandedFile]:
    """Every file under the landing prefix, except the reserved ``_errors/`` and ``_state/``."""
    return [
        LandedFile(uri=store.uri(obj.key), key=obj.key, etag=obj.etag, size=obj.size)
        for obj in store.list("")
        if not obj.key.startswith(RESERVED_PREFIXES) and not obj.key.endswith("/")
    ]


class LandingCursor:
    """Durable record of the landed file versions already announced (the warehouse's
    ``landing_cursor`` table)."""

    def __init__(self, warehouse: "Warehouse") -> None:
        self.warehouse = warehouse
        self.engine = warehouse.engine
        self.table = warehouse.table("landing_cursor")

    def ensure(self) -> None:
        self.warehouse.ensure_tables()

    def seen(self) -> set[tuple[str, str]]:
        with self.engine.connect() as connection:
            return {(r.uri, r.etag) for r in connection.execute(sa.select(self.table.c.uri, self.table.c.etag))}

    def advance(self, landed: LandedFile) -> None:
        from revenue.io.warehouse import dialect_insert

        with self.engine.begin() as connection:
            connection.execute(
                dialect_insert(connection)(self.table).values(
                    uri=landed.uri, etag=landed.etag, size=landed.size, event_id=str(landed.event_id),
                    emitted_at=dt.datetime.now(dt.timezone.utc),
                ).on_conflict_do_nothing()
            )


def pending_files(store: ObjectStore, cursor: LandingCursor) -> list[LandedFile]:
    """Landed file versions the watcher has not announced yet, oldest key first."""
    seen = cursor.seen()
    return [f for f in listed_files(store) if (f.uri, f.etag) not in seen]
