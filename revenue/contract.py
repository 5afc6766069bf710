"""The orders contract: what an order row is, wherever it comes from.

One module, so the source table, CSV files and Parquet files are read by the same rules.

Columns (grain of an orders input: one row per order *version*; ``order_id`` may repeat):

- ``order_id``: a 64-bit integer (the source's ``bigint``). Accepted as an integer, an
  integral float (``123.0``) or text of ASCII digits with an optional sign and an optional
  zero fraction (``" 123"``, ``"+123"``, ``"123.0"``). Anything else (``A-1001``, ``12.5``,
  ``1e3``, a value outside the signed 64-bit range) is not an order id: the row is quarantined.
- ``customer_id``: text, stripped. An integral number written as a number or as text with a
  zero fraction (``123``, ``123.0``, ``"123.00"``) is the text ``"123"``, so a customer
  written ``123.0`` in a CSV file and ``123`` in the source is one customer. Leading zeros
  are kept (``"0123"`` is not ``"123"``). Blank is null.
- ``amount``: money, handled as whole cents (int64) from the moment it is read. Text (ASCII
  digits, an optional sign, fraction and exponent: ``12.5``, ``-.5``, ``1e3``) and decimals
  are parsed exactly; floats by their shortest decimal form (``0.1`` is 10 cents). More than
  two decimals are rounded to the cent, half away from zero (``0.125`` is 13 cents,
  ``-0.125`` is -13). The amount as written must lie within ``+-1e15``. Text that is not a
  number (``12,50``, ``abc``, ``1_000``) or not finite (``NaN``, ``inf``) is quarantined, and
  so is an amount past the range (``1e400``).
- ``order_date``: a timestamp, UTC; naive means UTC. Text must be ISO 8601 (``YYYY-MM-DD``,
  optionally a time and an offset: ``ISO_TIMESTAMP``).
- ``updated_at`` (optional): a timestamp; the newest version of an order wins.

Every published total is a sum of whole cents: exact, and the same in every table.

Each rule exists twice: vectorised (``order_ids``, ``customer_ids``, ``amount_cents``) for
the pipeline's hot path, and as a per-value reference (``order_id_of``, ``customer_id_of``,
``cents_of``) that ``revenue verify`` uses and the unit tests hold the vectorised forms to.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from revenue import catalog
from revenue.errors import DataError

REQUIRED_COLUMNS: tuple[str, ...] = catalog.ORDER_COLUMNS
"""The columns every orders input must have (the catalog's ``orders``)."""
VERSION_COLUMN = catalog.VERSION_COLUMN
"""When an input has this column, the newest version of a duplicated order wins."""

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_AMOUNT = Decimal("1e15")
MAX_CENTS = int(MAX_AMOUNT * 100)
CENT = Decimal("0.01")

# Reasons a row is quarantined for a field of the contract (first rule that matches wins).
NULL_ORDER_ID = "null order_id"
BAD_ORDER_ID = "order_id is not a 64-bit integer"
NULL_CUSTOMER_ID = "null customer_id"
NULL_AMOUNT = "null amount"
BAD_AMOUNT = "amount is not a finite number"
AMOUNT_OUT_OF_RANGE = f"amount outside +-{MAX_AMOUNT:,.0f}"
NULL_ORDER_DATE = "null order_date"
BAD_ORDER_DATE = "order_date is not a timestamp"

_INTEGER_TEXT = re.compile(r"\s*([+-]?[0-9]+)(?:\.0*)?\s*")
_ZERO_FRACTION = re.compile(r"([+-]?[0-9]+)\.0+")
_PLAIN_DECIMAL = r"^\s*([+-]?)([0-9]*)(?:\.([0-9]*))?\s*$"
_ESCAPED_SLASH = re.compile(r"(?<!\\)((?:\\\\)*)\\/")
"""A JSON ``\\/`` escape (an even run of backslashes before it is not part of it)."""
_NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
"""What an amount written as text may look like (ASCII digits, an optional exponent)."""


class MissingColumnsError(DataError):
    """The input lacks columns of the orders contract."""


def missing_columns(columns: object) -> list[str]:
    present = set(map(str, columns))  # type: ignore[call-overload]
    return [c for c in REQUIRED_COLUMNS if c not in present]


# --------------------------------------------------------------------------- reference rules


def is_null(value: object) -> bool:
    """None, NA, NaT (also a numpy ``datetime64`` NaT) and a float NaN."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, np.datetime64) and bool(np.isnat(value))


def order_id_of(value: object) -> tuple[int | None, str | None]:
    """``(order id, None)`` or ``(None, reason)`` for one value."""
    if is_null(value):
        return None, NULL_ORDER_ID
    if isinstance(value, (bool, np.bool_)):
        return None, BAD_ORDER_ID
    number: int | None = None
    if isinstance(value, (int, np.integer)):
        number = int(value)
    elif isinstance(value, (float, np.floating, Decimal)):
        if not math.isfinite(value) or value != int(value):
            return None, BAD_ORDER_ID
        number = int(value)
    else:
        text = str(value)
        if not text.strip():
            return None, NULL_ORDER_ID
        match = _INTEGER_TEXT.fullmatch(text)
        if match is None:
            return None, BAD_ORDER_ID
        number = int(match.group(1))
    if not INT64_MIN <= number <= INT64_MAX:
        return None, BAD_ORDER_ID
    return number, None


def customer_id_of(value: object) -> tuple[str | None, str | None]:
    """``(customer id, None)`` or ``(None, reason)`` for one value."""
    if is_null(value):
        return None, NULL_CUSTOMER_ID
    if isinstance(value, (bool, np.bool_)):
        text = str(bool(value))
    elif isinstance(value, (int, np.integer)):
        text = str(int(value))
    elif isinstance(value, (float, np.floating)):
        text = str(int(value)) if math.isfinite(value) and value == int(value) else repr(float(value))
    elif isinstance(value, Decimal):
        text = str(int(value)) if value.is_finite() and value == int(value) else str(value)
    else:
        text = str(value).strip()
        match = _ZERO_FRACTION.fullmatch(text)
        if match is not None:
            text = match.group(1)
    return (text, None) if text else (None, NULL_CUSTOMER_ID)


def cents_of(value: object) -> tuple[int | None, str | None]:
    """``(whole cents, None)`` or ``(None, reason)`` for one amount."""
    if is_null(value):
        return None, NULL_AMOUNT
    if isinstance(value, (bool, np.bool_)):
        return None, BAD_AMOUNT
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return None, BAD_AMOUNT
        text = repr(float(value))  # the shortest decimal that reads back as this float
    elif isinstance(value, (int, np.integer, Decimal)):
        text = str(value)
    else:
        text = str(value).strip()
        if not text:
            return None, NULL_AMOUNT
        if not _NUMBER_TEXT.fullmatch(text):
            return None, BAD_AMOUNT
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None, BAD_AMOUNT
    if not number.is_finite():
        return None, BAD_AMOUNT
    if abs(number) > MAX_AMOUNT:
        return None, AMOUNT_OUT_OF_RANGE
    return int(number.quantize(CENT, rounding=ROUND_HALF_UP).scaleb(2)), None


ISO_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?"
)
"""The ISO 8601 forms a text timestamp may take: ``YYYY-MM-DD``, optionally ``T`` or a space,
``HH:MM[:SS[.f]]`` and an offset (``Z``, ``+HH``, ``+HHMM``, ``+HH:MM``)."""


def timestamp_of(value: object) -> dt.datetime | None:
    """One value as a UTC ``datetime`` (naive means UTC; text must be ISO 8601), else None."""
    if is_null(value):
        return None
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value).to_pydatetime()
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time(0))
    elif isinstance(value, str) and ISO_TIMESTAMP.fullmatch(value.strip()):
        text = value.strip().replace("Z", "+00:00")
        fraction = re.search(r"\.([0-9]+)", text)
        if fraction and len(fraction.group(1)) > 6:  # Python keeps microseconds
            text = text.replace(fraction.group(0), "." + fraction.group(1)[:6])
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc)


def order_id_label(value: object) -> str | None:
    """How a quarantined row names its order: the contract's id when it is one, else the
    value as written (``A-1001``), else null."""
    number, _ = order_id_of(value)
    if number is not None:
        return str(number)
    text = "" if is_null(value) else str(value).strip()
    return text or None


def records_json(rows: pd.DataFrame) -> list[str]:
    """Each row as JSON for the quarantine, values as read (text stays text, ``1e400`` too;
    timestamps in ISO 8601, decimals as exact text, a non-finite float as ``"inf"``), written
    by pandas' C encoder rather than one Python call per value."""
    if rows.empty:
        return []
    plain = rows.rename(columns=str)
    for name in plain.columns:
        column = plain[name]
        if pd.api.types.is_datetime64_any_dtype(column.dtype) or (
            isinstance(column.dtype, pd.ArrowDtype) and pa.types.is_decimal(column.dtype.pyarrow_dtype)
        ):  # as text, by Arrow: pandas' encoder is slow on timestamps
            plain[name] = _arrow_text(column)
        elif pd.api.types.is_float_dtype(column.dtype) and not isinstance(column.dtype, pd.ArrowDtype):
            infinite = np.isinf(column.to_numpy(dtype="float64", na_value=np.nan))
            if infinite.any():
                plain[name] = column.astype("object").where(~infinite, column.astype("str"))
        elif column.dtype == object:
            plain[name] = column.map(_json_safe)
    text = plain.to_json(
        orient="records", lines=True, date_format="iso", date_unit="us", force_ascii=False, default_handler=str
    )
    if "\\/" in text:  # pandas writes / as \/: keep it readable
        text = _ESCAPED_SLASH.sub(r"\1/", text)
    return text.splitlines()


def _arrow_text(column: pd.Series) -> pd.Series:
    import pyarrow.compute as pc

    values = pa.array(column)
    if pa.types.is_timestamp(values.type):
        text = pc.strftime(values, format="%Y-%m-%dT%H:%M:%S%z" if values.type.tz else "%Y-%m-%dT%H:%M:%S")
    else:
        text = values.cast(pa.string())
    return pd.Series(text.to_pandas(types_mapper=pd.ArrowDtype), index=column.index).astype("object")


def _json_safe(value: object) -> object:
    """Python values pandas' encoder would misrender (Decimal, bytes, dates, inf)."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, (dt.date, pd.Timestamp)):
        return value.isoformat()
    if isinstance(value, float) and math.isinf(value):
        return str(value)
    return value


# --------------------------------------------------------------------------- vectorised rules


def _reasons(index: pd.Index) -> pd.Series:
    return pd.Series(pd.NA, index=index, dtype="object")


def _per_value(values: pd.Series, rule: Callable[[Any], tuple[Any, str | None]]) -> tuple[pd.Series, pd.Series]:
    """The reference rule applied value by value (for the few values no fast path takes)."""
    pairs = [rule(v) for v in values.tolist()]
    parsed = pd.Series([p[0] for p in pairs], index=values.index, dtype="object")
    reasons = pd.Series([p[1] if p[1] is not None else pd.NA for p in pairs], index=values.index, dtype="object")
    return parsed, reasons


def _arrow_strings(values: pd.Series) -> pa.ChunkedArray:
    """A text column as Arrow large strings (no copy when pandas already holds it in Arrow)."""
    backing = getattr(values.array, "_pa_array", None)
    if backing is None:
        backing = pa.chunked_array(
            [pa.array(values.astype("object").where(values.notna(), None), type=pa.large_string())]
        )
    return backing.cast(pa.large_string()) if backing.type != pa.large_string() else backing


def _unsigned(values: pd.Series) -> bool:
    return pd.api.types.is_unsigned_integer_dtype(values.dtype)


def _mixed_objects(values: pd.Series) -> bool:
    """An object column holding anything but text and nulls (Parquet, merged inputs)."""
    return values.dtype == object and not values.map(lambda v: isinstance(v, str) or is_null(v)).all()


def order_ids(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Order ids as ``Int64`` (missing where invalid) and the reason per invalid row."""
    reasons = _reasons(values.index)
    if pd.api.types.is_integer_dtype(values.dtype):
        null = values.isna().to_numpy()
        too_big = np.zeros(len(values), bool)
        if _unsigned(values):
            too_big = (values.astype("UInt64") > np.uint64(INT64_MAX)).fillna(False).to_numpy(bool)
        ids = values.where(~too_big, 0).astype("Int64").where(~too_big)
        reasons[null] = NULL_ORDER_ID
        reasons[too_big] = BAD_ORDER_ID
        return ids, reasons
    if pd.api.types.is_float_dtype(values.dtype) and not isinstance(values.dtype, pd.ArrowDtype):
        numbers = values.to_numpy(dtype="float64", na_value=np.nan)
        null = np.isnan(numbers)
        with np.errstate(invalid="ignore"):
            integral = ~null & (numbers >= -(2.0**63)) & (numbers < 2.0**63) & (numbers == np.trunc(numbers))
        ids = pd.Series(pd.array(np.where(integral, numbers, 0).astype("int64"), dtype="Int64"), index=values.index)
        ids[~integral] = pd.NA
        reasons[null] = NULL_ORDER_ID
        reasons[~null & ~integral] = BAD_ORDER_ID
        return ids, reasons
    if _mixed_objects(values):
        parsed, reasons = _per_value(values, order_id_of)  # mixed Python values
        return parsed.astype("Int64"), reasons
    text = values.astype("str").where(values.notna())
    digits = text.str.extract(r"^\s*([+-]?[0-9]+)(?:\.0*)?\s*$", expand=False)
    blank = (text.isna() | text.str.strip().eq("")).to_numpy(dtype=bool, na_value=True)
    fits = digits.notna().to_numpy(dtype=bool).copy()
    long = fits & (digits.str.lstrip("+-").str.len() >= 19).to_numpy(dtype=bool, na_value=False)
    for position in np.flatnonzero(long):  # near or past the int64 edge: check exactly
        fits[position] = order_id_of(digits.iloc[position])[0] is not None
    ids = pd.array(np.zeros(len(values), dtype="int64"), dtype="Int64")
    ids[fits] = digits[fits].astype("int64").to_numpy()
    ids[~fits] = pd.NA
    reasons[blank] = NULL_ORDER_ID
    reasons[~blank & ~fits] = BAD_ORDER_ID
    return pd.Series(ids, index=values.index), reasons


def customer_ids(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Customer ids as text (missing where null or blank) and the reason per null row."""
    if pd.api.types.is_float_dtype(values.dtype) or _mixed_objects(values):
        parsed, reasons = _per_value(values, customer_id_of)
        return parsed.astype("str").where(parsed.notna()), reasons
    import pyarrow.compute as pc

    text = _arrow_strings(
        values if isinstance(values.dtype, pd.StringDtype) else values.astype("str").where(values.notna())
    )
    if not pd.api.types.is_integer_dtype(values.dtype):  # Arrow kernels: ~10x pandas' .str
        text = pc.utf8_trim_whitespace(text)
        if pc.any(pc.match_substring(text, ".")).as_py():
            text = pc.replace_substring_regex(text, r"^([+-]?[0-9]+)\.0+$", r"\1")
        text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.large_string()), text)
    ids = pd.Series(
        text.to_pandas(types_mapper={pa.large_string(): pd.StringDtype("pyarrow", na_value=np.nan)}.get),
        index=values.index,
    )
    reasons = _reasons(values.index)
    reasons[ids.isna().to_numpy()] = NULL_CUSTOMER_ID
    return ids, reasons


def amount_cents(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Amounts as ``Int64`` whole cents (missing where invalid) and the reason per row."""
    reasons = _reasons(values.index)
    if isinstance(values.dtype, pd.ArrowDtype) and pa.types.is_decimal(values.dtype.pyarrow_dtype):
        return _cents_from_decimals(values, reasons)
    if pd.api.types.is_integer_dtype(values.dtype):
        too_big = values.astype("float64").abs() > float(MAX_AMOUNT)
        cents = values.where(~too_big, 0).astype("Int64") * 100
        cents = cents.where(~too_big)
        reasons[values.isna()] = NULL_AMOUNT
        reasons[too_big.fillna(False)] = AMOUNT_OUT_OF_RANGE
        return cents, reasons
    if pd.api.types.is_float_dtype(values.dtype):
        return _cents_from_floats(values, reasons)
    if _mixed_objects(values):
        parsed, reasons = _per_value(values, cents_of)
        return parsed.astype("Int64"), reasons
    return _cents_from_text(values, reasons)


def _cents_from_floats(values: pd.Series, reasons: pd.Series) -> tuple[pd.Series, pd.Series]:
    numbers = values.to_numpy(dtype="float64", na_value=np.nan)
    null = np.isnan(numbers)
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = numbers * 100
        rounded = np.round(scaled)
        # Fast path: the float is within a millionth of a cent of a whole cent and small
        # enough for float64 to hold every cent; its shortest decimal has <= 2 decimals.
        exact = ~null & np.isfinite(numbers) & (np.abs(numbers) < 1e13) & (np.abs(scaled - rounded) < 1e-6)
    cents = pd.Series(pd.array(np.where(exact, rounded, 0).astype("int64"), dtype="Int64"), index=values.index)
    cents[~exact] = pd.NA
    reasons[null] = NULL_AMOUNT
    slow = ~exact & ~null
    if slow.any():
        parsed, slow_reasons = _per_value(values[slow], cents_of)
        cents[slow] = parsed.astype("Int64")
        reasons[slow] = slow_reasons
    return cents, reasons


def _cents_from_text(values: pd.Series, reasons: pd.Series) -> tuple[pd.Series, pd.Series]:
    text = values.astype("str").where(values.notna())
    parts = text.str.extract(_PLAIN_DECIMAL)
    sign, whole, fraction = parts[0], parts[1].fillna(""), parts[2].fillna("")
    plain = (
        (parts[0].notna() & (whole.str.len() + fraction.str.len() > 0) & (whole.str.len() <= 16)).to_numpy(bool).copy()
    )
    blank = (text.isna() | text.str.strip().eq("")).to_numpy(dtype=bool, na_value=True)
    cents = pd.array(np.zeros(len(values), dtype="int64"), dtype="Int64")
    if plain.any():
        units = whole[plain].replace("", "0").astype("int64").to_numpy()
        padded = fraction[plain].str.pad(3, side="right", fillchar="0")
        value = (
            units * 100 + padded.str[:2].astype("int64").to_numpy() + (padded.str[2].astype("int64").to_numpy() >= 5)
        )
        value = np.where(sign[plain].to_numpy() == "-", -value, value)
        # the range applies to the amount as written, before it is rounded to the cent
        past_cents = fraction[plain].str[2:].str.strip("0").str.len().to_numpy() > 0
        in_range = (np.abs(units * 100 + padded.str[:2].astype("int64").to_numpy()) < MAX_CENTS) | (
            (np.abs(units * 100 + padded.str[:2].astype("int64").to_numpy()) == MAX_CENTS) & ~past_cents
        )
        cents[plain] = value
        out_of_range = plain.copy()
        out_of_range[plain] = ~in_range
        reasons[out_of_range] = AMOUNT_OUT_OF_RANGE
        cents[out_of_range] = pd.NA
    reasons[blank] = NULL_AMOUNT
    cents[blank] = pd.NA
    other = ~plain & ~blank
    if other.any():  # exponents, text, NaN, 12,50: the reference rule decides
        parsed, other_reasons = _per_value(values[other], cents_of)
        cents[other] = parsed.astype("Int64").to_numpy()
        reasons[other] = other_reasons.to_numpy()
    return pd.Series(cents, index=values.index), reasons


def _cents_from_decimals(values: pd.Series, reasons: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Decimal columns (a typed source): the unscaled integers, rescaled to cents, read
    straight from the Arrow buffer (the per-value rule takes values past 64 bits)."""
    array = pa.chunked_array(values.array._pa_array).combine_chunks()
    scale = array.type.scale
    if array.type.bit_width != 128 or not 0 <= scale <= 9:
        parsed, reasons = _per_value(values, cents_of)
        return parsed.astype("Int64"), reasons
    words = np.frombuffer(array.buffers()[1], dtype="int64", count=2 * (len(array) + array.offset))
    low = words[2 * array.offset :: 2][: len(array)].copy()
    high = words[2 * array.offset + 1 :: 2][: len(array)]
    valid = values.notna().to_numpy()
    if not np.array_equal(high[valid], low[valid] >> 63):  # a value past 64 bits
        parsed, reasons = _per_value(values, cents_of)
        return parsed.astype("Int64"), reasons
    if scale <= 2:
        cents = low * 10 ** (2 - scale)
        too_big = valid & (np.abs(low) > MAX_CENTS // 10 ** (2 - scale))
    else:
        divisor = 10 ** (scale - 2)
        cents = np.sign(low) * ((np.abs(low) + divisor // 2) // divisor)  # half away from zero
        limit = MAX_CENTS * divisor  # the amount as written, before rounding
        too_big = valid & (np.abs(low) > limit) if limit <= INT64_MAX else np.zeros(len(low), bool)
    result = pd.Series(pd.array(np.where(too_big, 0, cents), dtype="Int64"), index=values.index)
    result[~valid | too_big] = pd.NA
    reasons[~valid] = NULL_AMOUNT
    reasons[too_big] = AMOUNT_OUT_OF_RANGE
    return result, reasons


def timestamps(values: pd.Series) -> pd.Series:
    """UTC timestamps (``datetime64[ns, UTC]``), NaT where a value is not one. Naive is UTC."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        stamps = values.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(values.dtype):
        stamps = values.dt.tz_localize("UTC")
    else:
        if values.dtype == object:
            values = values.map(lambda v: v.isoformat() if isinstance(v, (dt.date, pd.Timestamp)) else v)
        text = values.astype("str").where(values.notna()).str.strip()
        iso = text.str.fullmatch(ISO_TIMESTAMP.pattern).fillna(False).astype(bool)
        stamps = pd.to_datetime(text.where(iso), errors="coerce", utc=True, format="ISO8601")
    return stamps.astype("datetime64[ns, UTC]") if str(stamps.dtype) != "datetime64[ns, UTC]" else stamps


# --------------------------------------------------------------------------- money out


def cents_to_decimal(cents: int) -> Decimal:
    """Whole cents as an exact two-decimal amount."""
    return Decimal(int(cents)).scaleb(-2).quantize(CENT)


def cents_to_arrow(cents: pd.Series, precision: int = 20) -> pa.Array:
    """Whole cents as an Arrow ``decimal128(precision, 2)`` array, exactly and without a
    Python object per value (the cents are the decimal's unscaled integers)."""
    values = cents.to_numpy(dtype="int64", na_value=0)
    words = np.empty((len(values), 2), dtype="int64")
    words[:, 0] = values
    words[:, 1] = np.where(values < 0, -1, 0)
    validity = None
    if cents.isna().any():
        validity = pa.array(cents.notna().to_numpy()).buffers()[1]
    return pa.Array.from_buffers(pa.decimal128(precision, 2), len(values), [validity, pa.py_buffer(words.tobytes())])


def money_series(cents: pd.Series) -> pd.Series:
    """Whole cents as exact amounts: a ``decimal128(20, 2)`` column (Parquet keeps it as a
    decimal; Python sees ``Decimal``)."""
    return pd.Series(pd.arrays.ArrowExtensionArray(cents_to_arrow(cents)), index=cents.index)


def sum_cents(cents: pd.Series) -> int:
    """The exact sum of whole cents (int64 arithmetic when it cannot overflow)."""
    if cents.empty:
        return 0
    largest = int(cents.abs().max())
    if largest * len(cents) < INT64_MAX:
        return int(cents.sum())
    return sum(int(c) for c in cents.dropna())
