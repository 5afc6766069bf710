"""Landed order files: one file's bytes in, raw order rows per UTC day out.

Grain: one row per data row of the file (the header is not a row; blank lines are not
rows). Nothing is typed, fixed or dropped here: ``clean_orders`` types the values and
quarantines bad rows with reasons. This module only refuses files it cannot read at all
(``LandedFileError``) and decides which UTC day each row belongs to.

``read_landed_file(data, key)``
    Format is detected from the content, never from the key alone (the usual keys end in
    ``.csv``, ``.csv.gz``, ``.parquet``, ``.parquet.gz`` or ``.gz``; a key that lies about
    its content is read by what the bytes are):

    - gzip (magic ``1f 8b``) is decompressed first, once; the result is then detected again.
    - Parquet (magic ``PAR1``) is read with pyarrow. Column values keep their Parquet types
      (integers become pandas' nullable integers so large ids keep every digit; timestamps
      stay timestamps). pandas' unnamed-index artefacts (``__index_level_N__``) are dropped.
    - Anything else must be CSV text: comma-separated, ``"``-quoted (quoted commas and
      newlines are fine, ``""`` is an escaped quote), one header row. Every value is read as
      text (pandas ``str`` dtype) exactly as written, so ``1e400``, ``NaN``, ``12,50`` or
      ``abc`` reach ``clean_orders`` unchanged; only an empty field is missing.

    Text encodings, tried in order: UTF-16 when the file starts with a UTF-16 BOM; UTF-8
    (a UTF-8 BOM is stripped: ``utf-8-sig``); else cp1252, only if the bytes decode there.
    Latin-1 is not a separate fallback: every byte decodes in latin-1, and the only bytes
    cp1252 rejects (81 8D 8F 90 9D) are control codes in latin-1, never text. A file that
    is mostly valid UTF-8 with a few invalid bytes is refused as mixed encodings (decoding
    it as cp1252 would turn every accented UTF-8 letter into mojibake). The codec used is
    recorded in ``frame.attrs["encoding"]`` (``"utf-8"``, ``"utf-8-sig"``, ``"utf-16"``,
    ``"cp1252"``; ``"parquet"`` for Parquet), with ``attrs["format"]`` (``"csv"`` or
    ``"parquet"``) and ``attrs["compression"]`` (``"gzip"`` or ``None``).

    Header names are normalised: BOM and surrounding whitespace stripped, lowercased. An
    empty header name becomes ``unnamed_<position>``. Names that collide after
    normalisation are an error. Extra columns are kept, in file order.

    A row with the wrong number of fields cannot be put in the right columns without
    guessing (an unquoted comma in ``Smith, John`` shifts every later value one column right,
    and the shifted row can even look valid), so it is not read as an order: it comes back in
    ``LandedRows.bad_rows`` with its line and field count, to be quarantined, and the rest of
    the file is read. Only a file none of whose rows fits its header is refused. Broken
    quoting (an unterminated quote, text after a closing quote) refuses the whole file, naming
    the line where the broken row starts: the reader cannot tell where the next row begins.
    Checks run in this order, so the first problem is the one reported: empty file, gzip,
    format/encoding, quoting, required columns (a wrong header, such as a ``;``-separated
    file, explains every row that follows), field counts, no rows.

    The frame's index is ``line``: the line of the file a CSV row starts on (a header on the
    first line is line 1), or a Parquet row's number from 1. ``split_by_day`` keeps it, so a
    quarantined row names the line it came from.

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

import codecs
import csv
import datetime as dt
import gzip
import io
import json
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from revenue.contract import (
    ISO_TIMESTAMP,
    REQUIRED_COLUMNS,
    is_null,
    order_id_label,
    records_json,
)
from revenue.errors import DataError

UNASSIGNED_COLUMNS: tuple[str, ...] = ("line", "order_id", "reason", "record")

EARLIEST_ORDER_DATE = dt.date(2000, 1, 1)
LATEST_ORDER_DATE = dt.date(2099, 12, 31)

NULL_DATE = "null order_date"
NOT_A_TIMESTAMP = "order_date is not a timestamp"

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
_MAX_LINES_NAMED = 10
_BINARY_SAMPLE = 64 * 1024
_BINARY_CONTROL_SHARE = 0.05

_OTHER_FORMATS: tuple[tuple[bytes, str], ...] = (
    (GZIP_MAGIC, "gzip inside gzip"),
    (b"PK\x03\x04", "a zip archive (or an .xlsx workbook)"),
    (b"\xd0\xcf\x11\xe0", "an OLE document (an .xls workbook?)"),
    (b"BZh", "bzip2 data"),
    (b"\xfd7zXZ\x00", "xz data"),
    (b"\x28\xb5\x2f\xfd", "zstd data"),
    (b"7z\xbc\xaf\x27\x1c", "a 7z archive"),
    (b"%PDF", "a PDF document"),
)

_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_PANDAS_INDEX = re.compile(r"__index_level_\d+__")
_NULLABLE_INTS = {
    pa.int8(): pd.Int8Dtype(),
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.uint8(): pd.UInt8Dtype(),
    pa.uint16(): pd.UInt16Dtype(),
    pa.uint32(): pd.UInt32Dtype(),
    pa.uint64(): pd.UInt64Dtype(),
}


class LandedFileError(DataError):
    """A landed file that cannot be read as orders; ``str()`` names the key and the reason."""

    key: str
    reason: str

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"landed file {key}: {reason}")
        self.key = key
        self.reason = reason

    def __reduce__(self):  # picklable across Prefect task boundaries
        return (type(self), (self.key, self.reason))


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class LandedRows:
    """What one landed file holds: its order rows, and the rows that could not be parsed.

    ``rows`` is indexed by ``line`` (CSV: the line of the file the row starts on, the header
    being line 1 when it is the first; Parquet: the row number, from 1). ``bad_rows`` has one
    row per CSV row with the wrong number of fields: ``line``, ``order_id`` (null),
    ``reason`` and ``record`` (the fields as a JSON list).
    """

    rows: pd.DataFrame
    bad_rows: pd.DataFrame


def read_landed_file(data: bytes, key: str) -> LandedRows:
    """The raw order rows of one landed file (see the module docstring for the rules).

    Raises:
        LandedFileError: the file is empty, truncated, not CSV or Parquet, has no usable
            rows, or lacks a required column.
    """
    data = bytes(data)
    if not data:
        raise LandedFileError(key, "empty file (0 bytes)")
    compression = None
    if data.startswith(GZIP_MAGIC):
        compression = "gzip"
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise LandedFileError(key, "truncated or corrupt gzip") from exc
        if not data:
            raise LandedFileError(key, "empty file (0 bytes after gzip decompression)")
    bad_rows = _no_bad_rows()
    if data.startswith(PARQUET_MAGIC):
        frame, encoding, fmt = _read_parquet(data, key), "parquet", "parquet"
        frame.index = pd.RangeIndex(1, len(frame) + 1, name="line")
    else:
        frame, bad_rows, encoding = _read_csv(data, key)
        fmt = "csv"
    _require_columns(list(frame.columns), key)
    if frame.empty:
        raise LandedFileError(key, "no rows")
    frame.attrs.update(encoding=encoding, format=fmt, compression=compression)
    return LandedRows(frame, bad_rows)


def _require_columns(names: list[str], key: str) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        found = ", ".join(map(str, names)) or "none"
        raise LandedFileError(key, f"missing required column(s) {', '.join(missing)} (found: {found})")


def _read_parquet(data: bytes, key: str) -> pd.DataFrame:
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise LandedFileError(key, "truncated or corrupt Parquet") from exc
    table = table.drop_columns([n for n in table.column_names if _PANDAS_INDEX.fullmatch(n)])
    names = _normalise_header(table.column_names, key)
    frame = table.rename_columns(names).to_pandas(ignore_metadata=True, types_mapper=_NULLABLE_INTS.get)
    return frame


def _read_csv(data: bytes, key: str) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(rows by line, rows with the wrong number of fields, encoding)."""
    text, encoding = _decode(data, key)
    if not text.strip():
        raise LandedFileError(key, "empty file (no header and no rows, only whitespace)")
    try:
        rows = list(_scan(text))
    except _Malformed as malformed:
        raise LandedFileError(
            key, f"malformed CSV in the row starting at line {malformed.line}: {malformed.error}"
        ) from malformed.error
    header_line, header_fields = rows[0]  # text is not blank, so some line had fields
    header = _normalise_header(header_fields, key)
    _require_columns(header, key)  # a wrong header explains wrong rows: name it first
    width = len(header)
    good = [(line, fields) for line, fields in rows[1:] if len(fields) == width]
    bad = [(line, fields) for line, fields in rows[1:] if len(fields) != width]
    if bad and not good:
        named = ", ".join(f"line {line} has {len(fields)}" for line, fields in bad[:_MAX_LINES_NAMED])
        more = f" and {len(bad) - _MAX_LINES_NAMED} more" if len(bad) > _MAX_LINES_NAMED else ""
        raise LandedFileError(
            key,
            f"no usable rows: {len(bad)} row(s) with the wrong number of fields (header has {width}): {named}{more}",
        )
    frame = pd.DataFrame(
        [fields for _, fields in good],
        columns=header,
        dtype="object",
        index=pd.Index([line for line, _ in good], dtype="int64", name="line"),
    ).astype("str")
    bad_rows = pd.DataFrame(
        {
            "line": pd.Series([line for line, _ in bad], dtype="int64"),
            "order_id": pd.Series([None] * len(bad), dtype="object"),
            "reason": pd.Series(
                [f"{len(fields)} fields where the header has {width}" for _, fields in bad], dtype="str"
            ),
            "record": pd.Series([json.dumps(fields) for _, fields in bad], dtype="str"),
        },
        columns=list(UNASSIGNED_COLUMNS),
    )
    return frame.mask(frame == ""), bad_rows, encoding


def _no_bad_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "line": pd.Series(dtype="int64"),
            "order_id": pd.Series(dtype="object"),
            "reason": pd.Series(dtype="str"),
            "record": pd.Series(dtype="str"),
        }
    )


def _blank(fields: list[str]) -> bool:
    """A blank line (or one of only whitespace) is not a row."""
    return not fields or (len(fields) == 1 and not fields[0].strip())


def _scan(text: str) -> Iterator[tuple[int, list[str]]]:
    """``(first line, fields)`` of every non-blank row: slower, only to name a bad line."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    while True:
        first_line = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _Malformed(first_line, exc) from exc
        if not _blank(fields):
            yield first_line, fields


class _Malformed(Exception):
    def __init__(self, line: int, error: csv.Error) -> None:
        super().__init__(line, error)
        self.line, self.error = line, error


def _decode(data: bytes, key: str) -> tuple[str, str]:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise LandedFileError(key, "invalid UTF-16 text (file starts with a UTF-16 BOM)") from exc
    for magic, what in _OTHER_FORMATS:
        if data.startswith(magic):
            raise LandedFileError(key, f"not CSV or Parquet (looks like {what})")
    if _looks_binary(data):
        raise LandedFileError(key, "not CSV or Parquet (binary content)")
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data.decode("utf-8-sig"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise LandedFileError(key, _invalid_utf8_reason(data, exc, bom=True)) from exc
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        if _UTF8_MULTIBYTE.search(data):
            raise LandedFileError(key, _invalid_utf8_reason(data, exc, bom=False)) from exc
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as exc:
        raise LandedFileError(
            key, f"not UTF-8 or cp1252 text (byte {data[exc.start]:#04x} at line {_line_of(data, exc.start)})"
        ) from exc


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _invalid_utf8_reason(data: bytes, exc: UnicodeDecodeError, *, bom: bool) -> str:
    line = _line_of(data, exc.start)
    why = "starts with a UTF-8 BOM" if bom else "has valid UTF-8 multi-byte characters"
    return f"mixed encodings: the file {why} but byte {data[exc.start]:#04x} at line {line} is not UTF-8"


def _looks_binary(data: bytes) -> bool:
    sample = data[:_BINARY_SAMPLE]
    if b"\x00" in sample:
        return True
    text = sample.decode("latin-1")
    return len(_CONTROL.findall(text)) > _BINARY_CONTROL_SHARE * len(text)


def _normalise_header(names: list[str], key: str) -> list[str]:
    normalised = []
    for position, name in enumerate(names):
        clean = str(name).replace("\ufeff", "").strip().lower()
        normalised.append(clean or f"unnamed_{position}")
    duplicates = sorted({n for n in normalised if normalised.count(n) > 1})
    if duplicates:
        raise LandedFileError(key, f"duplicate column name(s) after normalisation: {', '.join(duplicates)}")
    return normalised


# --------------------------------------------------------------------------- splitting


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
    return pd.DataFrame(
        {
            "line": pd.Series(np.asarray(rows.index, dtype="int64"), dtype="int64"),
            "order_id": pd.Series(order_ids, dtype="object"),
            "reason": pd.Series(list(reasons.astype("str")), dtype="str"),
            "record": pd.Series(records, dtype="str"),
        },
        columns=list(UNASSIGNED_COLUMNS),
    )
