"""An order's identity across days: which of its versions counts, and on which day.

Of all versions of an ``order_id`` (the source is landing 0, then landed files in landing
order; within one landing the newest by ``updated_at``, then by ``order_date``), the latest
decides on which day the order counts. Only versions that keep the orders contract count as
versions: a row that breaks it changes nothing.

Pure functions over frames (no connection):

- ``landed_order_days``: what a landed file's reading records (``landed_orders``): one row
  per (``order_id``, ``partition_date``) the file has a valid version on, ``latest`` true on
  the day of the file's newest version of the order.
- ``typed_versions``: source rows of other days as versions (``OTHER_VERSION_COLUMNS``).
- ``resolve``: given a day's surviving version of each order (after the day's own overlay)
  and the versions of the same orders on other days, which orders the day loses (to which
  day and origin) and the cross-day ``Move`` edges the day knows of.

``OTHER_VERSION_COLUMNS`` (grain: one row per version of an order on another day):
``order_id`` (int64), ``partition_date`` (date), ``landing_seq`` (int64, 0 for the source),
``latest`` (bool: for a landing, its newest version of the order is on this day; always
true for the source), ``updated_at`` and ``order_date`` (UTC timestamps; NaT for landed
versions, which are ranked by landing alone), ``origin`` (the source's label or the URI).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from revenue import contract
from revenue.contract import VERSION_COLUMN

OTHER_VERSION_COLUMNS = ("order_id", "partition_date", "landing_seq", "latest", "updated_at", "order_date", "origin")


@dataclass(frozen=True, order=True)
class Move:
    """An edge of an order's identity: its version on ``from_day`` is outranked by its
    version on ``to_day`` (from ``origin``), so it counts on ``to_day`` only."""

    from_day: dt.date
    order_id: int
    to_day: dt.date
    origin: str


@dataclass(frozen=True)
class Resolution:
    """What a day learns from the versions of its orders on other days."""

    lost: dict[int, tuple[dt.date, str]]
    """Orders of the day whose latest version is on another day: (that day, its origin)."""
    moves: tuple[Move, ...]
    """Every edge between this day and another one, won or lost, sorted."""


def valid_versions(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows that keep the contract, typed: ``order_id``, ``order_date``, ``updated_at``
    (NaT when the input has no such column)."""
    order_id, id_reason = contract.order_ids(rows["order_id"].reset_index(drop=True))
    _, customer_reason = contract.customer_ids(rows["customer_id"].reset_index(drop=True))
    _, amount_reason = contract.amount_cents(rows["amount"].reset_index(drop=True))
    order_date = contract.timestamps(rows["order_date"].reset_index(drop=True))
    if VERSION_COLUMN in rows.columns:
        updated = contract.timestamps(rows[VERSION_COLUMN].reset_index(drop=True))
    else:
        updated = pd.Series(pd.NaT, index=order_date.index, dtype="datetime64[ns, UTC]")
    valid = (
        id_reason.isna().to_numpy()
        & customer_reason.isna().to_numpy()
        & amount_reason.isna().to_numpy()
        & order_date.notna().to_numpy()
        & order_id.notna().to_numpy()
    )
    return pd.DataFrame(
        {
            "order_id": order_id[valid].astype("int64").reset_index(drop=True),
            "order_date": order_date[valid].reset_index(drop=True),
            "updated_at": updated[valid].reset_index(drop=True),
        }
    )


def landed_order_days(by_day: Mapping[dt.date, pd.DataFrame]) -> pd.DataFrame:
    """``order_id``, ``partition_date``, ``latest``: one row per (order, day) a landed file
    has a valid version on; ``latest`` marks the day of its newest version in the file."""
    frames = []
    for day, rows in by_day.items():
        if len(rows):
            frames.append(valid_versions(rows).assign(partition_date=day))
    if not frames:
        return pd.DataFrame(
            {
                "order_id": pd.Series(dtype="int64"),
                "partition_date": pd.Series(dtype="object"),
                "latest": pd.Series(dtype="bool"),
            }
        )
    versions = pd.concat(frames, ignore_index=True)
    ranked = versions.sort_values(["updated_at", "order_date"], na_position="first", kind="stable")
    newest = ranked.drop_duplicates("order_id", keep="last").set_index("order_id")["partition_date"]
    days = versions[["order_id", "partition_date"]].drop_duplicates(ignore_index=True)
    days["latest"] = days["partition_date"].to_numpy() == newest.reindex(days["order_id"]).to_numpy()
    return days


def typed_versions(rows: pd.DataFrame, origin: str) -> pd.DataFrame:
    """Source rows (of other days) as versions of ``OTHER_VERSION_COLUMNS``."""
    versions = valid_versions(rows)
    return versions.assign(
        partition_date=[ts.date() for ts in versions["order_date"]],
        landing_seq=np.zeros(len(versions), dtype="int64"),
        latest=True,
        origin=origin,
    )[list(OTHER_VERSION_COLUMNS)]


def no_other_versions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order_id": pd.Series(dtype="int64"),
            "partition_date": pd.Series(dtype="object"),
            "landing_seq": pd.Series(dtype="int64"),
            "latest": pd.Series(dtype="bool"),
            "updated_at": pd.Series(dtype="datetime64[ns, UTC]"),
            "order_date": pd.Series(dtype="datetime64[ns, UTC]"),
            "origin": pd.Series(dtype="str"),
        }
    )


def resolve(day: dt.date, survivors: pd.DataFrame, others: pd.DataFrame, origins: Mapping[int, str]) -> Resolution:
    """Which of the day's orders count elsewhere, and the edges between this day and others.

    ``survivors``: the day's winning version of each order (``order_id``, ``_seq``: its
    landing, ``order_date``, ``updated_at`` when the input has it). ``others``: versions of
    the same orders on other days (``OTHER_VERSION_COLUMNS``); ``origins``: each landing's
    origin by its sequence (0: the source). The survivors are ranked with the others by
    ``edges_of``'s rule; a landed survivor is its file's ``latest`` version unless the same
    landing has its latest version of the order on another day."""
    if others.empty or survivors.empty:
        return Resolution({}, ())
    ids = survivors["order_id"].astype("int64").to_numpy()
    seq = survivors["_seq"].astype("int64").to_numpy()
    latest_elsewhere = others[others["latest"].to_numpy() & (others["landing_seq"].to_numpy() > 0)]
    overtaken = set(zip(latest_elsewhere["order_id"].astype(int), latest_elsewhere["landing_seq"].astype(int)))
    no_stamp = pd.Series(pd.NaT, index=survivors.index, dtype="datetime64[ns, UTC]")
    here = pd.DataFrame(
        {
            "order_id": ids,
            "partition_date": [day] * len(survivors),
            "landing_seq": seq,
            "latest": [(int(o), int(n)) not in overtaken for o, n in zip(ids, seq)],
            "updated_at": survivors[VERSION_COLUMN] if VERSION_COLUMN in survivors.columns else no_stamp,
            "order_date": survivors["order_date"],
            "origin": [origins.get(int(n), f"landing {int(n)}") for n in seq],
        }
    ).reset_index(drop=True)
    here["updated_at"] = pd.to_datetime(here["updated_at"], utc=True)
    here["order_date"] = pd.to_datetime(here["order_date"], utc=True)
    theirs = others[others["order_id"].isin(ids)]
    moves = tuple(m for m in edges_of(pd.concat([here, theirs], ignore_index=True)) if day in (m.from_day, m.to_day))
    lost = {m.order_id: (m.to_day, m.origin) for m in moves if m.from_day == day}
    return Resolution(lost, moves)


def edges_of(versions: pd.DataFrame) -> list[Move]:
    """Every edge among ``versions`` (``OTHER_VERSION_COLUMNS``: all known versions of some
    orders, on any day): for each order, its latest version by the module's rule, and an
    edge from every other day holding a version of it to that version's day."""
    if versions.empty:
        return []
    ranked = versions.assign(
        _has=versions["updated_at"].notna(),
        _updated=versions["updated_at"].fillna(pd.Timestamp.min.tz_localize("UTC")),
        _when=versions["order_date"].fillna(pd.Timestamp.min.tz_localize("UTC")),
    ).sort_values(["order_id", "landing_seq", "latest", "_has", "_updated", "_when"], kind="stable")
    winners = ranked.drop_duplicates("order_id", keep="last").set_index("order_id")
    held = versions[["order_id", "partition_date"]].drop_duplicates()
    to_day = winners["partition_date"].reindex(held["order_id"]).to_numpy()
    origin = winners["origin"].reindex(held["order_id"]).to_numpy()
    losing = held["partition_date"].to_numpy() != to_day
    return sorted(
        Move(day, int(order_id), winner_day, str(source))
        for day, order_id, winner_day, source in zip(
            held["partition_date"].to_numpy()[losing],
            held["order_id"].to_numpy()[losing],
            to_day[losing],
            origin[losing],
        )
    )
