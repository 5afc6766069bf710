"""Lake files: a partition's Parquet, one file per publish, the published one named by the ledger.

Layout: ``<folder>/order_date=YYYY-MM-DD/part-<version>.parquet``, where ``<folder>`` is the
dataset's ``lake_path`` in ``revenue.catalog`` (the datasets with one, ``catalog.IN_LAKE``,
are written for every published partition; a file has the dataset's catalog columns first,
in their order, then any extra columns the input carried), and ``<version>`` is
unique to one publish (its UTC time and a random part, ``20260301T101500123456Z-1a2b3c4d``).
A publish writes its files before the warehouse commits, at keys no other publish uses, and
the ledger rows it commits name them (``partition_ledger.lake_uri``). The file the ledger
names is the day's published version: a publish that fails never changes it, so the lake
never shows a version the warehouse did not publish.

- Under the day's lock, just before its commit, a publish deletes the day's part files the
  ledger does not name, other than its own (those of a publish that failed or was killed
  before cleaning up, or of one still waiting for the lock: that one finds its files gone
  when it holds the lock and writes them again).
- After its commit it deletes the files of the version it replaced; after a failure, its
  own files (unless the ledger names them: a commit whose acknowledgment was lost). Both
  are best effort and logged; whatever is left, the day's next publish deletes.

A reader listing a day's folder therefore sees the published file, plus at most the files
of publishes in flight or of one whose cleanup failed, until the day's next publish.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
import secrets
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from revenue import catalog
from revenue.io.errors import service
from revenue.io.storage import ObjectStore, StoredObject
from revenue.io.warehouse.ledger import read_ledger

if TYPE_CHECKING:
    from revenue.io.environment import Environment

log = logging.getLogger(__name__)

PART_FILE = re.compile(r"part-[^/]+\.parquet")
"""The name of a version's file in a partition's folder (``part-0.parquet`` of older releases too)."""


def partition_prefix(dataset: str, partition: dt.date) -> str:
    """The folder of a dataset's files of one partition (its catalog ``lake_path``)."""
    folder = catalog.dataset(dataset).lake_path
    if folder is None:
        raise ValueError(f"{dataset} is not stored in the lake")
    return f"{folder}/order_date={partition.isoformat()}/"


def partition_key(dataset: str, partition: dt.date, version: str) -> str:
    return f"{partition_prefix(dataset, partition)}part-{version}.parquet"


def new_version() -> str:
    """A version name no other publish uses, sorting by when it was made."""
    return f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(4)}"


def lake_columns(dataset: str, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as the dataset's lake file holds it: its catalog columns first, in their
    order, then the extra columns the input carried.

    Raises:
        ValueError: when ``frame`` lacks a column the catalog declares.
    """
    declared = catalog.dataset(dataset).column_names("transform")
    missing = [c for c in declared if c not in frame.columns]
    if missing:
        raise ValueError(f"{dataset}: the rows to write lack the column(s) {', '.join(missing)}")
    return frame[[*declared, *(c for c in frame.columns if c not in declared)]]


def to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    """Parquet bytes; an extra column mixing types (source values and landed-file text)
    is written as text rather than failing the partition."""
    buffer = io.BytesIO()
    try:
        frame.to_parquet(buffer, index=False, engine="pyarrow")
    except (TypeError, ValueError):
        mixed = [c for c in frame.columns if frame[c].dtype == object]
        as_text = frame.assign(**{c: frame[c].map(lambda v: None if pd.isna(v) else str(v)) for c in mixed})
        buffer = io.BytesIO()
        as_text.to_parquet(buffer, index=False, engine="pyarrow")
    return buffer.getvalue()


@dataclass
class LakeVersion:
    """The lake files one publish of a partition writes (one per dataset), at keys of its own."""

    store: ObjectStore
    partition: dt.date
    version: str = field(default_factory=new_version)
    written: dict[str, bytes] = field(default_factory=dict)
    """Dataset -> the Parquet bytes of its file, once written (kept to write it again)."""

    def key(self, dataset: str) -> str:
        return partition_key(dataset, self.partition, self.version)

    def uri(self, dataset: str) -> str:
        """What the ledger records as the dataset's lake file (``lake_uri``)."""
        return self.store.uri(self.key(dataset))

    def write(self, dataset: str, frame: pd.DataFrame) -> StoredObject:
        """Write one dataset's file (before the warehouse commits)."""
        data = to_parquet_bytes(lake_columns(dataset, frame))
        self.written[dataset] = data  # before the put: a failed publish deletes what may have landed
        with service(f"lake {self.store.uri()}", f"writing {dataset}", self.partition):
            return self.store.put(self.key(dataset), data)

    def settle(self, published: Mapping[str, str], writes: Iterable[Future[StoredObject]] = ()) -> None:
        """Under the day's lock, before the commit: wait for this version's ``writes`` (their
        errors raised), delete the day's part files that neither the ledger (``published``:
        dataset -> ``lake_uri``) nor this version names, and write this version's files again
        if another publish's repair removed them."""
        for write in writes:
            write.result()
        for dataset, data in self.written.items():
            mine, named = self.key(dataset), self._key_of(published.get(dataset))
            with service(f"lake {self.store.uri()}", f"repairing {dataset}", self.partition):
                present = set()
                for key in self._parts(dataset):
                    if key in (mine, named):
                        present.add(key)
                    else:
                        self.store.delete(key)
                        log.info("lake %s: deleted %s, a version the warehouse never published", self.store.uri(), key)
                if mine not in present:
                    self.store.put(mine, data)

    def retire(self, previous: Mapping[str, str]) -> None:
        """After the commit: delete the files of the version this one replaced (best effort)."""
        mine = {self.key(d) for d in self.written}
        self._delete(k for k in map(self._key_of, previous.values()) if k is not None and k not in mine)

    def discard(self, published: Mapping[str, str]) -> None:
        """After a failed publish: delete this version's files unless the ledger
        (``published``) names them (best effort)."""
        named = set(map(self._key_of, published.values()))
        self._delete(self.key(d) for d in self.written if self.key(d) not in named)

    def _parts(self, dataset: str) -> list[str]:
        prefix = partition_prefix(dataset, self.partition)
        return [o.key for o in self.store.list(prefix) if PART_FILE.fullmatch(o.key[len(prefix) :])]

    def _key_of(self, uri: str | None) -> str | None:
        return self.store.key_of(uri) if uri else None

    def _delete(self, keys: Iterable[str]) -> None:
        for key in keys:
            try:
                self.store.delete(key)
            except Exception as error:  # best effort: the day's next publish deletes it
                log.warning(
                    "lake %s: could not delete %s (%s); the next publish of the day will",
                    self.store.uri(),
                    key,
                    type(error).__name__,
                )


def published_uris(env: Environment, partition: dt.date) -> dict[str, str]:
    """Dataset -> the lake file of the partition's published version (the ledger's ``lake_uri``)."""
    return {r.dataset: r.lake_uri for r in read_ledger(env.warehouse, partition, partition) if r.lake_uri}


def read_partition(env: Environment, dataset: str, partition: dt.date) -> pd.DataFrame:
    """The rows of the dataset's published lake file for the partition (the one the ledger names)."""
    uri = published_uris(env, partition).get(dataset)
    key = env.lake.key_of(uri) if uri else None
    if key is None:
        raise FileNotFoundError(f"{dataset} {partition.isoformat()}: no published lake file in {env.lake.uri()}")
    return pd.read_parquet(io.BytesIO(env.lake.get(key)))


def discard(env: Environment, version: LakeVersion) -> None:
    """After a failed publish: delete ``version``'s files unless the ledger names them; when
    the ledger cannot be read, they are left for the day's next publish (best effort)."""
    try:
        published = published_uris(env, version.partition)
    except Exception as error:
        log.warning(
            "lake %s: left version %s (ledger unreadable: %s)", env.lake.uri(), version.version, type(error).__name__
        )
        return
    version.discard(published)
