"""The versions of orders that current landings hold, by ``order_id``: how a day finds its
orders' versions on other days in one query per batch of ids, however many files landed.

Reads ``landed_orders`` (one row per (``seq``, ``order_id``, ``partition_date``) a read
landing has a valid version of the order on; ``latest`` marks the day of the file's newest
version of it), joined to each URI's current landing (its latest read one). Landed versions
have no timestamps: they are ranked by landing. The rows come back as
``revenue.transforms.identity.OTHER_VERSION_COLUMNS``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd
import sqlalchemy as sa

from revenue.io.landing.versions import LandedVersion, version_of
from revenue.io.warehouse.sql import as_date, id_batches
from revenue.transforms.identity import OTHER_VERSION_COLUMNS, no_other_versions

if TYPE_CHECKING:
    from revenue.io.landing.registry import LandingRegistry


def versions_elsewhere(registry: LandingRegistry, partition: dt.date | None, order_ids: Sequence[int]) -> pd.DataFrame:
    """The versions of these orders that current landings hold on other days than
    ``partition`` (any day when it is None). One query per batch of ids, by the
    ``order_id`` index."""
    orders = registry.orders
    dialect = registry.warehouse.engine.dialect.name
    conditions = [
        [where] + ([orders.c.partition_date != partition] if partition is not None else [])
        for where in id_batches(orders.c.order_id, order_ids, dialect)
    ]
    found = _landed_versions(registry, conditions, partition)
    return found[found["order_id"].isin(list(order_ids))].reset_index(drop=True) if len(found) else found


def versions_on(registry: LandingRegistry, partitions: Sequence[dt.date]) -> pd.DataFrame:
    """The versions current landings hold on these days."""
    days = sorted(set(partitions))
    day = registry.orders.c.partition_date
    return _landed_versions(registry, [[day.in_(days[i : i + 500])] for i in range(0, len(days), 500)])


def holding(registry: LandingRegistry, order_ids: Sequence[int]) -> list[LandedVersion]:
    """The current landings that hold a version of any of these orders, on any day, in
    landing order (``revenue verify`` reads them to decide each order's day itself)."""
    orders, files = registry.orders, registry.files
    current = registry.current_seqs()
    wanted = set(order_ids)
    seqs: set[int] = set()
    for where in id_batches(orders.c.order_id, order_ids, registry.warehouse.engine.dialect.name):
        query = (
            sa.select(orders.c.seq, orders.c.order_id)
            .select_from(orders.join(current, current.c.seq == orders.c.seq))
            .where(where)
        )
        with registry.warehouse.service("reading landed orders"), registry.warehouse.engine.connect() as connection:
            seqs.update(int(r.seq) for r in connection.execute(query) if r.order_id in wanted)
    if not seqs:
        return []
    query = sa.select(files).where(files.c.seq.in_(sorted(seqs))).order_by(files.c.seq)
    with registry.warehouse.service("reading the landing registry"), registry.warehouse.engine.connect() as connection:
        return [version_of(r) for r in connection.execute(query).mappings()]


def _landed_versions(
    registry: LandingRegistry,
    conditions: Sequence[Sequence[sa.ColumnElement[bool]]],
    partition: dt.date | None = None,
) -> pd.DataFrame:
    """Current landings' ``landed_orders`` rows meeting each list of ``conditions``."""
    orders, files = registry.orders, registry.files
    current = registry.current_seqs()
    frames = []
    for where in conditions:
        query = (
            sa.select(
                orders.c.order_id,
                orders.c.partition_date,
                orders.c.seq.label("landing_seq"),
                orders.c.latest,
                files.c.uri.label("origin"),
            )
            .select_from(orders.join(current, current.c.seq == orders.c.seq).join(files, files.c.seq == orders.c.seq))
            .where(*where)
        )
        with registry.warehouse.service("reading landed orders", partition), registry.warehouse.engine.connect() as c:
            frames.append(pd.DataFrame(c.execute(query).mappings().all()))
    found = [f for f in frames if len(f)]
    if not found:
        return no_other_versions()
    versions = pd.concat(found, ignore_index=True).astype({"order_id": "int64", "landing_seq": "int64"})
    versions["latest"] = versions["latest"].astype(bool)
    versions["partition_date"] = [as_date(d) for d in versions["partition_date"]]
    versions["updated_at"] = pd.Series(pd.NaT, index=versions.index, dtype="datetime64[ns, UTC]")
    versions["order_date"] = pd.Series(pd.NaT, index=versions.index, dtype="datetime64[ns, UTC]")
    return versions[list(OTHER_VERSION_COLUMNS)]
