"""The landing zone: files of orders dropped under the landing prefix of a bucket.

- ``resolve_landed``: turns an event's resource id (``s3://bucket/prefix/key``) or a key
  into a ``LandedFile``, refusing anything outside the configured landing prefix (no
  reading outside it) and reading the object's current ETag.
- ``mark_error``: records an unreadable file under ``_errors/`` of the landing prefix
  (the original stays where it landed).
- ``listed_files``: every file under the landing prefix, for the watcher.

What was landed, and in which order, is the landing registry's to say
(``revenue.io.registry``).
"""

from __future__ import annotations

import datetime as dt
import json
import posixpath
import uuid
from dataclasses import dataclass

from revenue.errors import DataError
from revenue.io.errors import service
from revenue.io.storage import ObjectStore

LANDED_EVENT = "revenue.file.landed"
RESERVED_PREFIXES = ("_errors/", "_state/")
EVENT_NAMESPACE = uuid.UUID("5d1f5a3e-8f0c-4a77-9f3e-0c6a2b9d7e11")


class LandingKeyError(DataError):
    """A key outside the landing prefix, or one that does not exist."""


@dataclass(frozen=True)
class LandedFile:
    """One landed object as seen now: its URI (the event resource id), key in the landing
    store, ETag and size."""

    uri: str
    key: str
    etag: str
    size: int


def resolve_landed(store: ObjectStore, key_or_uri: str) -> LandedFile:
    """The landed file named by ``key_or_uri``, checked to lie under the landing prefix."""
    root = store.uri().rstrip("/") + "/"
    text = key_or_uri.strip()
    if "://" in text:
        if not text.startswith(root):
            raise LandingKeyError(f"landed file {text}: outside the landing prefix {root}")
        relative = text[len(root) :]
    else:
        relative = text.lstrip("/")
    normalized = posixpath.normpath(relative) if relative else ""
    if (
        not normalized
        or normalized.startswith("..")
        or normalized != relative
        or normalized.startswith(RESERVED_PREFIXES)
    ):
        raise LandingKeyError(f"landed file {text}: not a file key under the landing prefix {root}")
    with service(f"landing {store.uri()}", f"reading {normalized}"):
        head = store.head(normalized)
    if head is None:
        raise LandingKeyError(f"landed file {store.uri(normalized)}: no such object")
    return LandedFile(uri=store.uri(normalized), key=normalized, etag=head.etag, size=head.size)


def mark_error(store: ObjectStore, landed: LandedFile, reason: str) -> str:
    """Record why a landed file was rejected, under ``_errors/``; returns the marker key."""
    marker = f"_errors/{landed.key}.error.json"
    body = {
        "uri": landed.uri,
        "etag": landed.etag,
        "reason": reason,
        "rejected_at": dt.datetime.now(dt.timezone.utc).isoformat(),
    }
    with service(f"landing {store.uri()}", f"writing {marker}"):
        store.put(marker, json.dumps(body, indent=2).encode())
    return marker


def listed_files(store: ObjectStore, start_after: str | None = None) -> list[LandedFile]:
    """Every file under the landing prefix (with ``start_after``: whose key sorts after it),
    except the reserved ``_errors/`` and ``_state/``, oldest first (by the time it was
    written, then by key)."""
    with service(
        f"landing {store.uri()}", "listing the landing prefix" + (f" after {start_after}" if start_after else "")
    ):
        objects = store.list("", start_after=start_after)
    return [
        LandedFile(uri=store.uri(obj.key), key=obj.key, etag=obj.etag, size=obj.size)
        for obj in sorted(objects, key=lambda o: (o.modified, o.key))
        if not obj.key.startswith(RESERVED_PREFIXES) and not obj.key.endswith("/")
    ]
