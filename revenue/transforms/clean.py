"""cleaned_orders: one row per ``order_id`` within one day partition.

``clean_orders`` turns the day's raw rows (as extracted: any dtypes, possibly garbage)
into typed rows and a quarantine. Every input row ends up in exactly one of the two
frames, so ``len(cleaned) + len(rejected) == len(raw)``: nothing is dropped silently.

Cleaned columns: ``order_id`` (str), ``customer_id`` (str), ``amount`` (float64),
``order_date`` (UTC timestamp, inside the partition day), plus every extra source
column carried through unchanged.

Rejected columns (grain: one row per rejected input row): ``source_row`` (the row's
position in the raw frame), ``order_id`` (as text, may be null), ``reason`` and
``record`` (the raw row as JSON).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from revenue.partitions import day_bounds

REQUIRED_COLUMNS: tuple[str, ...] = ("order_id", "customer_id", "amount", "order_date")
VERSION_COLUMN = "updated_at"
"""When the source has this column, the newest version of a duplicated order wins."""

REJECTED_COLUMNS: tuple[str, ...] = ("source_row", "order_id", "reason", "record")


class MissingColumnsError(ValueError):
    """The input lacks columns of the orders contract."""


@dataclass(frozen=True)
class CleanedOrders:
    """The outcome of cleaning one partition: the good rows and the quarantine."""

    cleaned: pd.DataFrame
    rejected: pd.DataFrame


def clean_orders(raw: pd.DataFrame, partition: dt.date) -> CleanedOrders:
    """Type, validate and deduplicate one day's raw orders.

    Rules, applied in order (the first that matches names the reason):
    null or blank ``order_id`` / ``customer_id`` / ``amount``; ``amount`` that is not a
    finite number; ``order_date`` that is not a timestamp or falls outside the partition
    day (UTC); duplicate ``order_id`` (the newest row is kept: greatest ``updated_at``
    when the source has it, else greatest ``order_date``, else the later row).
    Negative amounts are refunds and are kept; the quality gate warns about them.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise MissingColumnsError(
            f"partition {partition.isoformat()}: missing required column(s) {', '.join(missing)}"
        )
    frame = raw.reset_index(drop=True)
    reasons = pd.Series(pd.NA, index=frame.index, dtype="object")

    order_id = _as_text(frame["order_id"])
    customer_id = _as_text(frame["customer_id"])
    amount = _as_amount(frame["amount"])
    order_date = pd.to_datetime(frame["order_date"], errors="coerce", utc=True, format="mixed")
    start, end = day_bounds(partition)

    _reject(reasons, order_id.isna(), "null order_id")
    _reject(reasons, customer_id.isna(), "null customer_id")
    _reject(reasons, frame["amount"].isna() | _blank(frame["amount"]), "null amount")
    _reject(reasons, amount.isna(), "amount is not a finite number")
    _reject(reasons, order_date.isna(), "order_date is not a timestamp")
    outside = (order_date < pd.Timestamp(start)) | (order_date >= pd.Timestamp(end))
    _reject(reasons, outside, f"order_date outside partition {partition.isoformat()}")

    valid = reasons.isna()
    typed = frame.assign(
        order_id=order_id, customer_id=customer_id, amount=amount, order_date=order_date
    )
    if VERSION_COLUMN in typed.columns:  # source timestamps and landed-file text, one type
        typed[VERSION_COLUMN] = pd.to_datetime(typed[VERSION_COLUMN], errors="coerce", utc=True, format="mixed")
    duplicate = _older_duplicates(typed, valid)
    _reject(reasons, duplicate, "duplicate order_id (a newer row was kept)")

    keep = reasons.isna()
    cleaned = typed.loc[keep].reset_index(drop=True)
    cleaned["order_id"] = cleaned["order_id"].astype("str")
    cleaned["customer_id"] = cleaned["customer_id"].astype("str")
    cleaned["amount"] = cleaned["amount"].astype("float64")
    rejected = _quarantine(frame, order_id, reasons, ~keep)
    return CleanedOrders(cleaned=cleaned, rejected=rejected)


def _reject(reasons: pd.Series, mask: pd.Series, reason: str) -> None:
    """Record ``reason`` for rows in ``mask`` that have no reason yet."""
    reasons.loc[mask.fillna(False).astype(bool) & reasons.isna()] = reason


def _blank(values: pd.Series) -> pd.Series:
    return values.astype("str").str.strip().eq("") & values.notna()


def _as_text(values: pd.Series) -> pd.Series:
    """Identifiers as text; null and blank become missing. Integer floats ``7.0`` become ``'7'``."""
    if pd.api.types.is_float_dtype(values.dtype):
        finite = values.dropna()
        if bool((finite % 1 == 0).all()):
            values = values.astype("Int64")
    text = values.astype("str").str.strip()
    return text.where(text.ne(""))


def _as_amount(values: pd.Series) -> pd.Series:
    """Amounts as finite float64; anything else (text, ``12,50``, ``1e400``, NaN) is missing."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        numbers = values.astype("float64")
    else:
        numbers = pd.to_numeric(values.astype("str").str.strip(), errors="coerce").astype("float64")
    return numbers.where(np.isfinite(numbers))


def _older_duplicates(typed: pd.DataFrame, valid: pd.Series) -> pd.Series:
    """True for valid rows whose ``order_id`` also appears on a newer valid row."""
    candidates = typed.loc[valid]
    if candidates.empty:
        return pd.Series(False, index=typed.index)
    order_keys = ["order_date"]
    if VERSION_COLUMN in candidates.columns:
        version = pd.to_datetime(candidates[VERSION_COLUMN], errors="coerce", utc=True, format="mixed")
        candidates = candidates.assign(_version=version)
        order_keys = ["_version", "order_date"]
    ranked = candidates.assign(_position=candidates.index).sort_values(
        [*order_keys, "_position"], na_position="first", kind="stable"
    )
    older = ranked.duplicated("order_id", keep="last")
    return older.reindex(typed.index, fill_value=False)


def _quarantine(
    frame: pd.DataFrame, order_id: pd.Series, reasons: pd.Series, mask: pd.Series
) -> pd.DataFrame:
    rows = frame.loc[mask]
    if rows.empty:
        return empty_rejected()
    records = [
        json.dumps({k: _jsonable(v) for k, v in rec.items()}, sort_keys=True)
        for rec in rows.to_dict(orient="records")
    ]
    return pd.DataFrame(
        {
            "source_row": rows.index.astype("int64"),
            "order_id": order_id.loc[mask].astype("object").where(order_id.loc[mask].notna(), None),
            "reason": reasons.loc[mask].astype("str"),
            "record": records,
        }
    ).reset_index(drop=True)


def empty_rejected() -> pd.DataFrame:
    """A quarantine with no rows and the quarantine's columns."""
    return pd.DataFrame(
        {
            "source_row": pd.Series(dtype="int64"),
            "order_id": pd.Series(dtype="object"),
            "reason": pd.Series(dtype="str"),
            "record": pd.Series(dtype="str"),
        }
    )


def _jsonable(value: object) -> object:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.floating):
        return _jsonable(float(value))
    if isinstance(value, (int, str, bool)):
        return value
    if isinstance(value, (pd.Timestamp, dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)
