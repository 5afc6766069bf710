"""The landing zone: files of orders dropped under the landing prefix of a bucket.

- ``resolve_landed``: turns an event's resource id (``s3://bucket/prefix/key``, or the
  percent-encoded ``file://`` URI of a local file) or a key into a ``LandedFile``, refusing
  anything outside the configured landing prefix or breaking the key rule
  (``revenue.io.landing.keys``) before reading anything, and reading the object's current ETag.
- ``mark_error``: records an unreadable file under ``_errors/`` of the landing prefix
  (the original stays where it landed).
- ``listed_files``: every file under the landing prefix, for the watcher (a key breaking
  the rule is skipped, and logged once).

What was landed, and in which order, is the landing registry's to say
(``revenue.io.landing.registry``).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass

from revenue.io.errors import service
from revenue.io.landing.keys import LandingKeyError, key_problem, shown, skipped_once
from revenue.io.storage import ObjectStore

__all__ = [
    "LANDED_EVENT",
    "RESERVED_PREFIXES",
    "LandedFile",
    "LandingKeyError",
    "landing_key_problem",
    "listed_files",
    "mark_error",
    "resolve_landed",
]

LANDED_EVENT = "revenue.file.landed"
RESERVED_PREFIXES = ("_errors/", "_state/")
EVENT_NAMESPACE = uuid.UUID("5d1f5a3e-8f0c-4a77-9f3e-0c6a2b9d7e11")


@dataclass(frozen=True)
class LandedFile:
    """One landed object as seen now: its URI (the event resource id), key in the landing
    store, ETag and size."""

    uri: str
    key: str
    etag: str
    size: int


def landing_key_problem(key: str) -> str | None:
    """Why ``key`` (relative to the landing prefix, decoded) is not a landed file's key:
    the key rule, or a prefix reserved for the pipeline's own files; None when it is one."""
    if key.startswith(RESERVED_PREFIXES):
        return "reserved for the pipeline's own files"
    return key_problem(key)


def resolve_landed(store: ObjectStore, key_or_uri: str) -> LandedFile:
    """The landed file named by ``key_or_uri``: a URI as the store makes them (its event's
    resource id, decoded by ``store.key_of``) or a key relative to the landing prefix, taken
    as it is. ``LandingKeyError`` naming it and why, before anything is read, for one
    outside the prefix or breaking the key rule; and for one that names no regular file."""
    root = store.uri().rstrip("/") + "/"
    if "://" in key_or_uri:
        key = store.key_of(key_or_uri)
        if key is None:
            raise LandingKeyError(f"landed file {shown(key_or_uri)}: outside the landing prefix {root}")
    else:
        key = key_or_uri
    problem = landing_key_problem(key)
    if problem is not None:
        raise LandingKeyError(
            f"landed file {shown(key_or_uri)}: not a file key under the landing prefix {root} ({problem})"
        )
    with service(f"landing {store.uri()}", f"reading {shown(key)}"):
        head = store.head(key)
    if head is None:
        raise LandingKeyError(f"landed file {shown(store.uri(key))}: no such object")
    return LandedFile(uri=store.uri(key), key=key, etag=head.etag, size=head.size)


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
    except the reserved ``_errors/`` and ``_state/`` and keys breaking the key rule (each
    logged once), oldest first (by the time it was written, then by key)."""
    with service(
        f"landing {store.uri()}", "listing the landing prefix" + (f" after {start_after}" if start_after else "")
    ):
        objects = store.list("", start_after=start_after)
    found = []
    for obj in sorted(objects, key=lambda o: (o.modified, o.key)):
        if obj.key.startswith(RESERVED_PREFIXES) or obj.key.endswith("/"):  # ours, or a "folder"
            continue
        problem = key_problem(obj.key)
        if problem is not None:
            skipped_once(store.uri(), obj.key, f"not a file key under the landing prefix ({problem})")
            continue
        found.append(LandedFile(uri=store.uri(obj.key), key=obj.key, etag=obj.etag, size=obj.size))
    return found
