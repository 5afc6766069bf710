"""A read landing's rows for a partition, values as landed and indexed by line: its bytes
read again (only those exact bytes, by ETag) and split by day, once per process.

No table: the bytes are the landing store's; a landing whose bytes changed since it was read
is registered again (``InputSuperseded`` when the new version reads, ``DataError`` when it
cannot), so a day is never computed from bytes that are not the registered ones.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from revenue.contract import REQUIRED_COLUMNS
from revenue.errors import DataError, InputSuperseded
from revenue.io.errors import service
from revenue.io.landing.days import read_and_split
from revenue.io.landing.reads import registration
from revenue.io.landing.versions import READ, REGISTERED_BY_RUN, LandedVersion
from revenue.io.landing.zone import LandedFile
from revenue.io.storage import ObjectChanged, ObjectStore

if TYPE_CHECKING:
    from revenue.io.landing.registry import LandingRegistry

SPLIT_CACHE_SIZE = 8


def no_rows() -> pd.DataFrame:
    """A landed file's rows when it has none for a day (a new frame each time: callers may
    modify what they get)."""
    return pd.DataFrame(columns=list(REQUIRED_COLUMNS))


@dataclass(frozen=True)
class FileSplit:
    """A read version's rows by day and the rows no day can take (``line``-indexed)."""

    by_day: dict[dt.date, pd.DataFrame]
    rejects: pd.DataFrame


class SplitCache:
    """The last ``SPLIT_CACHE_SIZE`` versions split, by (URI, ETag), shared by threads."""

    def __init__(self) -> None:
        self._splits: OrderedDict[tuple[str, str], FileSplit] = OrderedDict()
        self._lock = threading.Lock()

    def split(self, store: ObjectStore, version: LandedVersion) -> FileSplit:
        """The version's rows by day, read once per process (only those exact bytes)."""
        cache_key = (version.uri, version.etag)
        with self._lock:
            if cache_key in self._splits:
                self._splits.move_to_end(cache_key)
                return self._splits[cache_key]
        with service(f"landing {store.uri()}", f"reading {version.key}"):
            data = store.get(version.key, etag=version.etag)
        split = FileSplit(*read_and_split(data, version.uri))
        with self._lock:
            self._splits[cache_key] = split
            while len(self._splits) > SPLIT_CACHE_SIZE:
                self._splits.popitem(last=False)
        return split


def rows_of(registry: LandingRegistry, version: LandedVersion, partition: dt.date) -> pd.DataFrame:
    """Every order row of a read version, whichever day it was assigned to (for checks
    that decide the day themselves), indexed by line."""
    rows_for(registry, version, partition)  # the same bytes, or the same refusal
    by_day = registry.splits.split(registry.landing, version).by_day
    return pd.concat(list(by_day.values())) if by_day else no_rows()


def rows_for(registry: LandingRegistry, version: LandedVersion, partition: dt.date) -> pd.DataFrame:
    """A read version's rows of one day, values as landed, indexed by line.

    Raises:
        InputSuperseded: the object was replaced by a version not registered yet (it is
            registered now; the partition must be planned again).
        DataError: the registered bytes are gone and the object's current version is
            already registered (unreadable or deleted): the day cannot be recomputed
            until a readable version lands.
    """
    store = registry.landing
    try:
        by_day = registry.splits.split(store, version).by_day
        return by_day[partition] if partition in by_day else no_rows()
    except ObjectChanged:
        pass
    with service(f"landing {store.uri()}", f"reading {version.key}", partition):
        current = store.head(version.key)
    if current is None:
        raise DataError(
            f"landed file {version.uri} (landing {version.seq}) was deleted from the landing zone: "
            f"partition {partition} cannot be recomputed without it; land it again"
        ) from None
    now = LandedFile(version.uri, version.key, current.etag, current.size)
    latest = registration(registry, registry.register(now, by=REGISTERED_BY_RUN))
    if latest.read_status == READ:
        raise InputSuperseded(partition, f"landed file {version.uri} was replaced by landing {latest.version.seq}")
    raise DataError(
        f"landed file {version.uri}: landing {version.seq} was replaced by landing {latest.version.seq}, "
        f"which cannot be read ({latest.error}); partition {partition} keeps its published version "
        "until a readable file lands"
    )
