"""A partition's input: the day's source rows plus every landed file merged into it.

Landed files are durable inputs: once a file's rows are published for a day, the
warehouse's ``landed_files`` table remembers it, and every later run of that day (the
cron, a backfill) merges the file again, so re-running a day never drops a file's orders.

The fingerprint of a partition is the source fingerprint alone when no file touches the
day, else a digest of it and each file's URI and current ETag.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from dataclasses import dataclass

import pandas as pd

from revenue.io.environment import Environment
from revenue.io.errors import service
from revenue.io.landed_files import read_landed_file, split_by_day
from revenue.io.landing import LandedFile, resolve_landed
from revenue.transforms.fingerprint import fingerprint
from revenue.transforms.merge import merge_landed_rows

_SPLIT_CACHE_SIZE = 8
_split_cache: OrderedDict[tuple[str, str], tuple[dict[dt.date, pd.DataFrame], pd.DataFrame]] = OrderedDict()
_split_lock = threading.Lock()


def landed_split(env: Environment, landed: LandedFile) -> tuple[dict[dt.date, pd.DataFrame], pd.DataFrame]:
    """A landed file's rows by UTC day, and rows no day can take (read once per version)."""
    cache_key = (landed.uri, landed.etag)
    with _split_lock:
        if cache_key in _split_cache:
            _split_cache.move_to_end(cache_key)
            return _split_cache[cache_key]
    if env.landing is None:
        raise LookupError(f"environment {env.name} has no landing block")
    with service(f"landing {env.landing.uri()}", f"reading {landed.key}"):
        data = env.landing.get(landed.key)
    split = split_by_day(read_landed_file(data, landed.uri))
    with _split_lock:
        _split_cache[cache_key] = split
        while len(_split_cache) > _SPLIT_CACHE_SIZE:
            _split_cache.popitem(last=False)
    return split


@dataclass(frozen=True)
class PartitionInput:
    """What a partition is computed from: its fingerprint and the landed files in it."""

    partition: dt.date
    fingerprint: str
    files: tuple[LandedFile, ...] = ()


def partition_inputs(env: Environment, partitions: list[dt.date], new: LandedFile | None = None) -> list[PartitionInput]:
    """Fingerprint and landed files of each partition, without reading any order row.

    Two queries for the whole list (the source fingerprints, the registered landed
    files) and one HEAD per distinct registered file for its current ETag. Files already
    published for a day come first (oldest first), ``new`` last; the file wins by
    ``order_id`` in that order.
    """
    if not partitions:
        return []
    days = sorted(partitions)
    sources = env.source.fingerprints(days)
    registered = env.warehouse.landed_files(days[0], days[-1]) if env.landing is not None else {}
    resolved: dict[str, LandedFile] = {}
    inputs = []
    for day in partitions:
        files = []
        for uri in registered.get(day, []):
            if new is None or uri != new.uri:
                if uri not in resolved:
                    resolved[uri] = resolve_landed(env.landing, uri)
                files.append(resolved[uri])
        if new is not None:
            files.append(new)
        inputs.append(PartitionInput(day, _fingerprint(sources[day], files), tuple(files)))
    return inputs


def _fingerprint(source: str, files: list[LandedFile]) -> str:
    """The source fingerprint alone when no file touches the day, else a digest of it and
    each file's URI and current ETag."""
    if not files:
        return source
    return fingerprint({"source": source, "files": [[f.uri, f.etag] for f in files]})


def extract_partition(env: Environment, partition: dt.date, files: list[LandedFile]) -> tuple[pd.DataFrame, list[tuple[str, str, int]]]:
    """The day's raw rows (source, then each file on top) and (uri, etag, rows) per file."""
    source = env.source.extract(partition)
    day_rows = []
    landed = []
    for file in files:
        rows = landed_split(env, file)[0].get(partition, pd.DataFrame(columns=["order_id"]))
        day_rows.append(rows)
        landed.append((file.uri, file.etag, len(rows)))
    return (merge_landed_rows(source, day_rows) if files else source), landed
