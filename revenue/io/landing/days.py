"""A landed file's rows split by UTC day: what each row's ``order_date`` says, or why no day
can take it. Grain: every row of the file is in exactly one day's frame (one row per file
row, index its ``line``) or in the rows no day can take. ``split_by_day`` is pure;
``read_and_split`` reads the file first (``revenue.io.landing.files``).

``split_by_day(frame)``
    Decides each row's UTC day from ``order_date`` and returns the original rows, values
    untouched, grouped by day (each group keeps the file's line numbers as its index), plus
    the rows no day can take. Accepted ``order_date`` values:

    - text in ISO 8601 extended calendar form: ``YYYY-MM-DD``, optionally followed by ``T``
      or a space, ``HH:MM`` or ``HH:MM:SS``, an optional fraction (``.`` and 1-9 digits)
      and an optional offset (``Z``, ``+HH``, ``+HHMM``, ``+HH:MM``). No offset means UTC;
      an offset is converted, so ``2026-03-01T23:30:00-02:00`` is the day 2026-03-02.
    - timestamps and dates (Parquet columns): naive means UTC.

    Every other form is not a timestamp, even where it could be guessed: ``01/03/2026``
    is the 1st of March or the 3rd of January depending on who wrote it, and accepting only
    the unambiguous ``13/03/2026`` would load half of such a file, depending on the day of
    the month. Integers are not guessed as epoch seconds or milliseconds either.
    A date must lie in ``[earliest, latest]`` (default 2000-01-01 .. 2099-12-31): that
    catches sentinels such as 1970-01-01 (a zero epoch) or 9999-12-31 that would otherwise
    create a partition of their own. The bounds are fixed, not "today", so splitting the
    same file always gives the same answer; pass ``latest`` to also refuse future days.

    Rows no day can take: one row per such file row: ``line``, ``order_id`` (text, may be
    null), ``reason`` (``null order_date``, ``order_date is not a timestamp``,
    ``order_date outside accepted range <earliest>..<latest>``) and ``record`` (the row as
    JSON, values as read).
"""

from __future__ import annotations

import datetime as dt
from typing import IO

import numpy as np
import pandas as pd

from revenue.catalog import FILE_REJECT_COLUMNS
from revenue.contract import ISO_TIMESTAMP, is_null, order_id_label, records_json
from revenue.io.landing.files import read_landed_file
from revenue.io.landing.limits import LandingLimits
from revenue.transforms.clean import quarantine_rows

EARLIEST_ORDER_DATE = dt.date(2000, 1, 1)
LATEST_ORDER_DATE = dt.date(2099, 12, 31)

NULL_DATE = "null order_date"
NOT_A_TIMESTAMP = "order_date is not a timestamp"


def read_and_split(
    data: bytes | bytearray | memoryview | IO[bytes], key: str, limits: LandingLimits | None = None
) -> tuple[dict[dt.date, pd.DataFrame], pd.DataFrame]:
    """``read_landed_file`` then ``split_by_day``: the file's rows by UTC day, and every row
    no day can take (the lines that do not fit the header first, then the rows without a
    usable ``order_date``)."""
    landed = read_landed_file(data, key, limits)
    by_day, unassigned = split_by_day(landed.rows)
    rejects = pd.concat([landed.bad_rows, unassigned], ignore_index=True) if len(landed.bad_rows) else unassigned
    return by_day, rejects


def split_by_day(
    frame: pd.DataFrame,
    *,
    earliest: dt.date = EARLIEST_ORDER_DATE,
    latest: dt.date = LATEST_ORDER_DATE,
) -> tuple[dict[dt.date, pd.DataFrame], pd.DataFrame]:
    """The file's rows by UTC day of ``order_date``, and the rows no day can take.

    Returns ``(by_day, unassigned)``: ``by_day`` maps each day (ascending) to the original
    rows of that day, values untouched, index = the file's line numbers (``frame``'s index);
    ``unassigned`` has ``line``, ``order_id``, ``reason``, ``record``. Every row is in
    exactly one of them. See the module docstring for the accepted ``order_date`` forms.
    """
    if "order_date" not in frame.columns:
        raise ValueError("split_by_day: the frame has no order_date column")
    values = frame["order_date"].reset_index(drop=True)  # work by position, not label
    instants, reasons = _utc_instants(values, earliest, latest)
    ok = reasons.isna().to_numpy()
    days = instants.dt.date.to_numpy()
    by_day: dict[dt.date, pd.DataFrame] = {}
    for day in sorted(set(days[ok])):
        rows = frame.iloc[np.flatnonzero(ok & (days == day))].copy()
        rows.attrs = dict(frame.attrs)
        by_day[day] = rows
    return by_day, _unassigned(frame.iloc[np.flatnonzero(~ok)], reasons[~ok])


def _utc_instants(values: pd.Series, earliest: dt.date, latest: dt.date) -> tuple[pd.Series, pd.Series]:
    """Each value's UTC instant (NaT where none) and the reason a row has no day (or NA)."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        instants = values.dt.tz_convert("UTC")
        reasons = pd.Series(pd.NA, index=values.index, dtype="object")
    elif pd.api.types.is_datetime64_dtype(values.dtype):
        instants = values.dt.tz_localize("UTC")
        reasons = pd.Series(pd.NA, index=values.index, dtype="object")
    elif isinstance(values.dtype, pd.StringDtype):
        instants, reasons = _instants_from_text(values)
    else:
        instants, reasons = _instants_from_objects(values)
    reasons = reasons.mask(reasons.isna() & instants.isna(), NULL_DATE)
    start = pd.Timestamp(dt.datetime.combine(earliest, dt.time(0)), tz="UTC")
    end = pd.Timestamp(dt.datetime.combine(latest + dt.timedelta(days=1), dt.time(0)), tz="UTC")
    outside = instants.notna() & ((instants < start) | (instants >= end))
    reasons = reasons.mask(outside, f"order_date outside accepted range {earliest.isoformat()}..{latest.isoformat()}")
    return instants.where(reasons.isna()), reasons


def _instants_from_text(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Vectorised path for a text column (every CSV column)."""
    text = values.astype("object").where(values.notna(), None)
    text = pd.Series([t.strip() if isinstance(t, str) else None for t in text], index=values.index, dtype="object")
    reasons = pd.Series(pd.NA, index=values.index, dtype="object")
    blank = text.isna() | (text == "")
    iso = pd.Series([bool(ISO_TIMESTAMP.fullmatch(t)) if t else False for t in text], index=values.index)
    reasons[blank] = NULL_DATE
    reasons[~blank & ~iso] = NOT_A_TIMESTAMP
    return _parse_iso(text.where(iso), reasons), reasons


def _instants_from_objects(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Element by element, for object columns (Parquet dates, mixed Python values)."""
    reasons = pd.Series(pd.NA, index=values.index, dtype="object")
    instants = pd.Series(pd.NaT, index=values.index, dtype="datetime64[us, UTC]")
    texts = pd.Series(None, index=values.index, dtype="object")
    for label, value in values.items():
        if is_null(value):
            reasons[label] = NULL_DATE
        elif isinstance(value, str):
            text = value.strip()
            if not text:
                reasons[label] = NULL_DATE
            elif ISO_TIMESTAMP.fullmatch(text):
                texts[label] = text
            else:
                reasons[label] = NOT_A_TIMESTAMP
        elif isinstance(value, (dt.date, np.datetime64)):  # datetime and Timestamp included
            stamp = pd.Timestamp(value)
            instants[label] = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        else:
            reasons[label] = NOT_A_TIMESTAMP
    parsed = _parse_iso(texts, reasons)
    return instants.where(texts.isna(), parsed), reasons


def _parse_iso(texts: pd.Series, reasons: pd.Series) -> pd.Series:
    """UTC instants of ISO texts (None elsewhere); sets ``reasons`` where a text that looks
    like ISO 8601 is not a real timestamp (``2026-02-30``, ``24:00``)."""
    parsed = pd.to_datetime(texts, format="ISO8601", utc=True, errors="coerce")
    parsed = parsed.astype("datetime64[us, UTC]")
    for label in texts.index[texts.notna() & parsed.isna()]:
        # pandas gives up outside its nanosecond range (years 0001, 9999): ask Python,
        # so such a date is reported as out of range rather than as not a timestamp
        try:
            moment = dt.datetime.fromisoformat(texts[label].replace("Z", "+00:00"))
        except ValueError:
            reasons[label] = NOT_A_TIMESTAMP
            continue
        stamp = pd.Timestamp(moment)
        parsed[label] = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return parsed


def _unassigned(rows: pd.DataFrame, reasons: pd.Series) -> pd.DataFrame:
    records = records_json(rows)
    order_ids = [order_id_label(v) for v in rows["order_id"]] if "order_id" in rows.columns else [None] * len(rows)
    return quarantine_rows(
        {
            "line": np.asarray(rows.index, dtype="int64"),
            "order_id": order_ids,
            "reason": list(reasons.astype("str")),
            "record": records,
        },
        FILE_REJECT_COLUMNS,
    )
