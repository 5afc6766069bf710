"""cleaned_orders: one row per ``order_id`` within one day partition.

``clean_orders`` turns the day's raw rows (the source's, then each landed file's, in
landing order; as extracted: any dtypes, possibly garbage) into typed rows and a
quarantine. Every input row ends up in exactly one of the two frames, so
``len(cleaned) + len(rejected) == raw rows``: nothing is dropped silently.

Rules, applied in order (the first that matches names the reason):

1. the orders contract (``revenue.contract``): ``order_id`` a 64-bit integer, a
   ``customer_id``, an ``amount`` that is a finite number within range;
2. ``order_date`` is a timestamp inside the partition day (UTC);
3. of the valid rows of an ``order_id``, those of the latest landing win (the source is
   landing 0): earlier ones are ``replaced by landed file <uri>``;
4. of the valid rows of an ``order_id`` in one landing, the newest version wins (greatest
   ``updated_at`` when the input has it, then ``order_date``; exact ties by ``customer_id``,
   ``amount``, then the later line): the others are ``duplicate order_id (a newer row was
   kept)``;
5. an order whose latest version is on another day (``others``: its versions on other
   days, by the rule of ``revenue.transforms.identity``) counts there, not here: its row is
   ``a later version counts on <day> (<origin>)``.

A row that breaks the contract changes nothing: it never replaces or outdates a valid row.
Negative amounts are refunds and are kept; the quality gate watches their share.

Cleaned columns: ``order_id`` (int64), ``customer_id`` (str), ``amount_cents`` (int64),
``order_date`` (``datetime64[ns, UTC]``, inside the day), ``updated_at`` when the input has
it, plus every extra column carried through unchanged.

Rejected columns (grain: one row per rejected input row): ``origin`` (the source's label or
the file's URI), ``landing_seq`` (null for the source), ``line`` (a file's line; for the
source, the row's position in the day's extract), ``order_id`` (as text, may be null),
``reason`` and ``record`` (the raw row as JSON).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from revenue import catalog, contract
from revenue.contract import VERSION_COLUMN, MissingColumnsError
from revenue.partitions import day_bounds
from revenue.transforms.identity import Move, resolve

REJECTED_COLUMNS: tuple[str, ...] = catalog.QUARANTINE_COLUMNS
"""The quarantine's columns (the catalog's ``rejected_orders`` as the stage writes it)."""
DUPLICATE = "duplicate order_id (a newer row was kept)"
REPLACED = "replaced by landed file"
COUNTED_ELSEWHERE = "a later version counts on"
_INTERNAL = ("_part", "_seq", "_line", "_row", "_reason")


@dataclass(frozen=True)
class RawPart:
    """The raw rows one origin contributes to a partition.

    ``rows`` are values as extracted or landed; for a landed file its index is the file's
    line of each row. ``landing_seq`` is 0 for the source.
    """

    origin: str
    landing_seq: int
    rows: pd.DataFrame

    @property
    def lines(self) -> np.ndarray:
        if self.landing_seq == 0:
            return np.arange(1, len(self.rows) + 1, dtype="int64")
        return np.asarray(self.rows.index, dtype="int64")


@dataclass(frozen=True)
class CleanedOrders:
    """The outcome of cleaning one partition: the good rows and the quarantine."""

    cleaned: pd.DataFrame
    rejected: pd.DataFrame
    moves: tuple[Move, ...] = ()
    """The edges between this day and others for its orders (won and lost)."""

    def reasons(self) -> dict[str, int]:
        """Rejected rows by reason, most frequent first."""
        return dict(self.rejected["reason"].value_counts().items()) if len(self.rejected) else {}


def clean_orders(parts: Sequence[RawPart], partition: dt.date, others: pd.DataFrame | None = None) -> CleanedOrders:
    """Type, validate, overlay and deduplicate one day's raw orders (rules: module docstring).
    ``others``: the versions of the day's orders on other days (``OTHER_VERSION_COLUMNS``).

    Raises:
        MissingColumnsError: an origin lacks a column of the orders contract.
    """
    typed = [_typed(part, number, partition) for number, part in enumerate(parts)]
    frame = pd.concat(typed, ignore_index=True) if len(typed) > 1 else typed[0].reset_index(drop=True)
    origins = {part.landing_seq: part.origin for part in parts}
    _outdated(frame, origins)
    moves = _moved_away(frame, partition, others, origins) if others is not None and len(others) else ()
    keep = frame["_reason"].isna().to_numpy()
    cleaned = frame.loc[keep].drop(columns=list(_INTERNAL)).reset_index(drop=True)
    cleaned["order_id"] = cleaned["order_id"].astype("int64")
    cleaned["amount_cents"] = cleaned["amount_cents"].astype("int64")
    cleaned["customer_id"] = cleaned["customer_id"].astype("str")
    return CleanedOrders(cleaned=cleaned, rejected=_quarantine(parts, frame.loc[~keep]), moves=moves)


def _typed(part: RawPart, number: int, partition: dt.date) -> pd.DataFrame:
    """One origin's rows typed by the contract, with the first reason each row breaks it."""
    rows = part.rows
    missing = contract.missing_columns(rows.columns)
    if missing:
        raise MissingColumnsError(
            f"{part.origin}: partition {partition.isoformat()}: missing required column(s) {', '.join(missing)}"
        )
    index = pd.RangeIndex(len(rows))
    order_id, id_reason = contract.order_ids(rows["order_id"].reset_index(drop=True))
    customer_id, customer_reason = contract.customer_ids(rows["customer_id"].reset_index(drop=True))
    cents, amount_reason = contract.amount_cents(rows["amount"].reset_index(drop=True))
    order_date = contract.timestamps(rows["order_date"].reset_index(drop=True))
    raw_date = rows["order_date"].reset_index(drop=True)
    date_reason = pd.Series(pd.NA, index=index, dtype="object")
    date_reason[order_date.isna().to_numpy() & raw_date.isna().to_numpy()] = contract.NULL_ORDER_DATE
    date_reason[order_date.isna().to_numpy() & raw_date.notna().to_numpy()] = contract.BAD_ORDER_DATE
    start, end = day_bounds(partition)
    outside = ((order_date < pd.Timestamp(start)) | (order_date >= pd.Timestamp(end))).fillna(False).to_numpy(bool)
    date_reason[outside] = f"order_date outside partition {partition.isoformat()}"

    typed = pd.DataFrame(
        {
            "order_id": order_id,
            "customer_id": customer_id,
            "amount_cents": cents,
            "order_date": order_date,
        },
        index=index,
    )
    if VERSION_COLUMN in rows.columns:
        typed[VERSION_COLUMN] = contract.timestamps(rows[VERSION_COLUMN].reset_index(drop=True))
    extras = [c for c in rows.columns if c not in typed.columns and c not in ("amount",)]
    for column in extras:
        typed[column] = rows[column].array  # as it came (no conversion to Python objects)
    typed["_part"] = number
    typed["_seq"] = part.landing_seq
    typed["_line"] = part.lines
    typed["_row"] = np.arange(len(rows), dtype="int64")
    typed["_reason"] = _first(id_reason, customer_reason, amount_reason, date_reason)
    return typed


def _first(*reasons: pd.Series) -> pd.Series:
    """Per row, the first reason that is not missing (rows with none stay missing)."""
    result = np.full(len(reasons[0]), None, dtype=object)
    for candidate in reversed(reasons):  # earlier reasons overwrite later ones
        given = candidate.notna().to_numpy()
        if given.any():
            result[given] = candidate.to_numpy(dtype=object)[given]
    return pd.Series(result, index=reasons[0].index, dtype="object")


def _outdated(frame: pd.DataFrame, origins: dict[int, str]) -> None:
    """Mark valid rows that a later landing replaces, then older duplicates (rules 3, 4)."""
    valid = frame["_reason"].isna().to_numpy()
    repeated = (
        valid & frame["order_id"].where(valid).duplicated(keep=False).to_numpy() & frame["order_id"].notna().to_numpy()
    )
    if not repeated.any():
        return
    order = [VERSION_COLUMN] if VERSION_COLUMN in frame.columns else []
    order += ["order_date", "customer_id", "amount_cents", "_line"]
    contested = frame.loc[repeated, ["order_id", "_seq", *order]]
    latest = contested.groupby("order_id")["_seq"].transform("max")
    replaced = contested.index[(contested["_seq"] < latest).to_numpy()]
    if len(replaced):
        frame.loc[replaced, "_reason"] = [f"{REPLACED} {origins[int(s)]}" for s in latest.loc[replaced]]
    survivors = contested.drop(index=replaced)
    ranked = survivors.sort_values(order, na_position="first", kind="stable")
    frame.loc[ranked.index[ranked.duplicated("order_id", keep="last").to_numpy()], "_reason"] = DUPLICATE


def all_counted_elsewhere(result: CleanedOrders) -> bool:
    """No order counts on the day because every one of them counts on another day: each
    row is a version of an order whose latest version is elsewhere (or an older duplicate
    of one), none broke the contract."""
    if len(result.cleaned) or not len(result.rejected):
        return False
    reasons = result.rejected["reason"]
    moved = reasons.str.startswith(COUNTED_ELSEWHERE)
    return bool(moved.any()) and bool((moved | reasons.eq(DUPLICATE) | reasons.str.startswith(REPLACED)).all())


def _moved_away(
    frame: pd.DataFrame, partition: dt.date, others: pd.DataFrame, origins: dict[int, str]
) -> tuple[Move, ...]:
    """Mark the surviving rows of orders whose latest version is on another day (rule 5);
    returns the day's edges with other days."""
    surviving = frame["_reason"].isna().to_numpy() & frame["order_id"].isin(others["order_id"]).to_numpy()
    if not surviving.any():
        return ()
    columns = ["order_id", "_seq", "order_date", *([VERSION_COLUMN] if VERSION_COLUMN in frame.columns else [])]
    survivors = frame.loc[surviving, columns].astype({"order_id": "int64"})
    resolution = resolve(partition, survivors, others, origins)
    if resolution.lost:
        lost = survivors.index[survivors["order_id"].isin(list(resolution.lost)).to_numpy()]
        frame.loc[lost, "_reason"] = [
            f"{COUNTED_ELSEWHERE} {day.isoformat()} ({origin})"
            for day, origin in (resolution.lost[int(i)] for i in survivors.loc[lost, "order_id"])
        ]
    return resolution.moves


def _quarantine(parts: Sequence[RawPart], rejected: pd.DataFrame) -> pd.DataFrame:
    """The rejected rows as the quarantine keeps them: raw values as JSON, origin and line.
    Rows are taken from each origin's frame in one selection (not row by row)."""
    if rejected.empty:
        return empty_rejected()
    frames = []
    for number, rows in rejected.groupby("_part", sort=True):
        part = parts[int(number)]
        raw = part.rows.iloc[rows["_row"].to_numpy()]
        frames.append(
            quarantine_rows(
                {
                    "origin": [part.origin] * len(rows),
                    "landing_seq": [part.landing_seq or None] * len(rows),
                    "line": rows["_line"],
                    "order_id": _labels(rows["order_id"], raw["order_id"]),
                    "reason": rows["_reason"],
                    "record": contract.records_json(raw),
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _labels(typed: pd.Series, raw: pd.Series) -> pd.Series:
    """How a quarantined row names its order: the contract's id where it has one, else the
    value as written (``A-1001``), else null. Per value only where the id is invalid."""
    labels = typed.astype("object").where(typed.notna(), None).to_numpy(dtype=object, copy=True)
    invalid = typed.isna().to_numpy()
    labels[invalid] = [contract.order_id_label(v) for v in raw.to_numpy(dtype=object)[invalid]]
    return pd.Series([None if v is None else str(v) for v in labels], dtype="object")


def empty_rejected() -> pd.DataFrame:
    """A quarantine with no rows and the quarantine's columns."""
    return quarantine_rows({})


def _dtype(column: catalog.Column) -> str:
    """The pandas dtype of a quarantine column: text, a whole number, nullable or not."""
    if column.type == "bigint":
        return "Int64" if column.nullable else "int64"
    return "object" if column.nullable else "str"


QUARANTINE_DTYPES: dict[str, str] = {
    c.name: _dtype(c) for c in catalog.REJECTED_ORDERS.columns if c.name in catalog.QUARANTINE_COLUMNS
}


def quarantine_rows(values: Mapping[str, object], columns: Sequence[str] = REJECTED_COLUMNS) -> pd.DataFrame:
    """Quarantined rows with ``columns`` (the whole quarantine's, or a landed file reader's
    ``catalog.FILE_REJECT_COLUMNS``), each of its catalog type; ``values`` holds each
    column's values (none for an empty quarantine)."""
    data = {}
    for name in columns:
        given = values.get(name, ())
        data[name] = pd.Series(
            given.to_numpy() if isinstance(given, pd.Series) else given, dtype=QUARANTINE_DTYPES[name]
        )
    return pd.DataFrame(data, columns=list(columns))
