"""Landed order files: one file's bytes in, its raw order rows out.

Grain: one row per data row of the file (the header is not a row; blank lines are not
rows). Nothing is typed, fixed or dropped here: ``clean_orders`` types the values and
quarantines bad rows with reasons. This module only refuses files it cannot read at all
(``LandedFileError``).

``read_landed_file(data, key, limits=None)``
    ``data`` is the object's bytes or a binary stream of them. Format is detected from the
    content, never from the key alone (the usual keys end in ``.csv``, ``.csv.gz``,
    ``.parquet``, ``.parquet.gz`` or ``.gz``; a key that lies about its content is read by
    what the bytes are):

    - gzip (magic ``1f 8b``; concatenated members too) is inflated as it is read, never
      whole; the content is then detected again.
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

    Limits (``revenue.io.landing.limits.LandingLimits``, from ``REVENUE_LANDING_MAX_*``) are checked
    before or while reading, never after: the object's size first; gzip output as it is
    inflated (a 1 MB file that inflates to 1 GB stops at the limit having held ~1 MiB);
    Parquet rows, columns, fields and uncompressed size from the footer, before any row group is
    read; CSV columns on the header, each record's length and the rows and fields while
    scanning. A file over one is refused at once with a ``LandingLimitError`` (a
    ``LandedFileError``) naming the limit and its setting.

    Memory: the content is read twice in 256 KiB chunks (once to decide the format and
    encoding, once to parse) and never held whole, nor decoded whole; CSV rows are
    packed into Arrow strings per column every 64Ki fields. Reading holds the object's
    bytes, the frame it returns (about the text's size plus 8 bytes a field) and a few MiB.

    The frame's index is ``line``: the line of the file a CSV row starts on (a header on the
    first line is line 1), or a Parquet row's number from 1. ``split_by_day`` keeps it, so a
    quarantined row names the line it came from.

``split_by_day`` (``revenue.io.landing.days``) then decides each row's UTC day.
"""

from __future__ import annotations

import csv
import io
import json
import re
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from revenue.catalog import FILE_REJECT_COLUMNS
from revenue.contract import REQUIRED_COLUMNS
from revenue.io.landing.content import GZIP_MAGIC, content, landed_object, read_all, sniff
from revenue.io.landing.limits import LandedFileError, LandingLimitError, LandingLimits, human_bytes
from revenue.transforms.clean import quarantine_rows

__all__ = [
    "LandedFileError",
    "LandedRows",
    "LandingLimitError",
    "LandingLimits",
    "read_landed_file",
]


_MAX_LINES_NAMED = 10
_MAX_NAMED = 10
"""Column names an error names at most, then says how many more."""
_NAME_WIDTH = 40
_CHUNK_CELLS = 64 * 1024
"""Fields kept as Python strings before they are packed into Arrow strings."""
_TEXT = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' "str"

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


def read_landed_file(
    data: bytes | bytearray | memoryview | IO[bytes], key: str, limits: LandingLimits | None = None
) -> LandedRows:
    """The raw order rows of one landed file (see the module docstring for the rules).

    ``data`` is the object's bytes, or a binary stream of them (a seekable file is read in
    place; a one-way stream is spooled as it is read). ``limits`` defaults to
    ``LandingLimits.from_environment()``.

    Raises:
        LandingLimitError: the file is over one of ``limits`` (a ``LandedFileError``).
        LandedFileError: the file is empty, truncated, not CSV or Parquet, has no usable
            rows, or lacks a required column.
        ConfigurationError: ``limits`` not given and a ``REVENUE_LANDING_MAX_*`` setting is
            malformed.
    """
    limits = LandingLimits.from_environment() if limits is None else limits
    with landed_object(data, key, limits) as obj:
        if obj.size == 0:
            raise LandedFileError(key, "empty file (0 bytes)")
        compression = "gzip" if obj.starts_with(GZIP_MAGIC) else None
        found = sniff(content(obj, key, limits, gzip=compression == "gzip"), key)
        if found.kind == "empty":
            raise LandedFileError(key, "empty file (0 bytes after gzip decompression)")
        bad_rows = _no_bad_rows()
        if found.kind == "parquet":
            source = (
                pa.BufferReader(pa.py_buffer(read_all(content(obj, key, limits, gzip=True))))
                if compression
                else obj.random_access()
            )
            frame, encoding, fmt = _read_parquet(source, key, limits), "parquet", "parquet"
            frame.index = pd.RangeIndex(1, len(frame) + 1, name="line")
        else:
            assert found.encoding is not None
            stream = content(obj, key, limits, gzip=compression == "gzip")
            frame, bad_rows = _read_csv(stream, found.encoding, key, limits)
            encoding, fmt = found.encoding, "csv"
    _require_columns(list(frame.columns), key)
    if frame.empty:
        raise LandedFileError(key, "no rows")
    frame.attrs.update(encoding=encoding, format=fmt, compression=compression)
    return LandedRows(frame, bad_rows)


def _some(names: list[str], total: int | None = None) -> str:
    """At most ``_MAX_NAMED`` names, each shortened to ``_NAME_WIDTH`` characters, then how
    many more: an error about a 16k-column header stays one line."""
    shown = [n if len(n) <= _NAME_WIDTH else n[: _NAME_WIDTH - 1] + "…" for n in names[:_MAX_NAMED]]
    more = (len(names) if total is None else total) - len(shown)
    return ", ".join(shown) + (f" and {more:,} more" if more > 0 else "")


def _require_columns(names: list[str], key: str) -> None:
    present = set(names)
    missing = [c for c in REQUIRED_COLUMNS if c not in present]
    if missing:
        found = _some([str(n) for n in names]) or "none"
        raise LandedFileError(key, f"missing required column(s) {', '.join(missing)} (found: {found})")


def _read_parquet(source: object, key: str, limits: LandingLimits) -> pd.DataFrame:
    """Rows, columns and size come from the footer, checked before any row group is read."""
    try:
        parquet = pq.ParquetFile(source)
        meta = parquet.metadata
        names = parquet.schema_arrow.names
        index = [n for n in names if _PANDAS_INDEX.fullmatch(n)]
        columns = meta.num_columns - len(index)
        if columns > limits.columns:
            limits.refuse(key, "columns", f"has {columns:,} columns, over {limits.describe('columns')}")
        if meta.num_rows > limits.rows:
            limits.refuse(key, "rows", f"holds {meta.num_rows:,} rows, over {limits.describe('rows')}")
        if meta.num_rows * columns > limits.fields:
            limits.refuse(
                key,
                "fields",
                f"holds {meta.num_rows * columns:,} fields ({meta.num_rows:,} rows x {columns:,} columns), "
                f"over {limits.describe('fields')}",
            )
        uncompressed = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        if uncompressed > limits.inflated_bytes:
            limits.refuse(
                key,
                "inflated_bytes",
                f"its columns take {human_bytes(uncompressed)}, over {limits.describe('inflated_bytes')} uncompressed",
            )
        kept = [n for n in names if n not in index]
        header = _normalise_header(kept, key)
        _require_columns(header, key)
        table = parquet.read(use_pandas_metadata=False)
    except (pa.ArrowException, OSError, ValueError) as exc:
        if isinstance(exc, (LandedFileError, MemoryError)):  # ArrowMemoryError: out of memory, not corrupt
            raise
        raise LandedFileError(key, "truncated or corrupt Parquet") from exc
    table = table.drop_columns(index)
    return table.rename_columns(header).to_pandas(ignore_metadata=True, types_mapper=_NULLABLE_INTS.get)


def _read_csv(stream: IO[bytes], encoding: str, key: str, limits: LandingLimits) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows by line, rows with the wrong number of fields), scanned record by record: the
    rows are kept column by column in Arrow strings, a chunk of Python strings at a time."""
    text = io.TextIOWrapper(stream, encoding=encoding, newline="")
    try:
        return _scan_csv(_Scan(text, key, limits), key, limits)
    finally:
        text.detach()  # the stream may be the caller's file: leave it open


def _scan_csv(scan: _Scan, key: str, limits: LandingLimits) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The header, then every record: limits checked as they come, rows packed as they fit."""
    header_fields = scan.next_record()
    if header_fields is None:
        raise LandedFileError(key, "empty file (no header and no rows, only whitespace)")
    width = len(header_fields)
    if width > limits.columns:
        limits.refuse(key, "columns", f"has {width:,} columns, over {limits.describe('columns')}")
    header: list[str] | None = None
    wrong_header: LandedFileError | None = None
    try:  # a wrong header explains wrong rows: name it first, but after a quoting error
        names = _normalise_header(header_fields, key)
        _require_columns(names, key)
        header = names
    except LandedFileError as error:
        wrong_header = error
    table = _Table(width)
    rows, most = 0, min(limits.rows, limits.fields // width)
    while (fields := scan.next_record()) is not None:  # the hot loop: one pass, no calls it can spare
        rows += 1
        if rows > most:
            _too_many_rows(key, limits, rows, width, scan.line)
        if header is None:
            continue
        if len(fields) == width:
            table.pending.append(fields)
            table.lines.append(scan.line)
            if len(table.pending) >= table.chunk_rows:
                table.flush()
        else:
            table.bad.append((scan.line, len(fields), json.dumps(fields)))
    if wrong_header is not None:
        raise wrong_header
    assert header is not None
    if table.bad and not table.lines:
        named = ", ".join(f"line {line} has {count}" for line, count, _ in table.bad[:_MAX_LINES_NAMED])
        more = f" and {len(table.bad) - _MAX_LINES_NAMED} more" if len(table.bad) > _MAX_LINES_NAMED else ""
        wrong = f"{len(table.bad)} row(s) with the wrong number of fields (header has {width})"
        raise LandedFileError(key, f"no usable rows: {wrong}: {named}{more}")
    return table.frame(header), table.bad_frame(width)


def _too_many_rows(key: str, limits: LandingLimits, rows: int, width: int, line: int) -> None:
    where = f"the {_ordinal(rows)} starts at line {line:,}"
    if rows > limits.rows:
        limits.refuse(key, "rows", f"has more than {limits.describe('rows')} rows: {where}")
    limits.refuse(key, "fields", f"has more than {limits.describe('fields')} fields ({width:,} columns a row): {where}")


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n:,}{suffix}"


class _Scan:
    """The non-blank records of a CSV text stream; ``line`` is the line the last one starts on.

    Lines are read at most ``limits.line_chars + 1`` characters at a time, and a record
    (its lines together) over ``limits.line_chars`` is refused as soon as it passes it, so
    one line without a break, or an unterminated quote, never reads the file into a field.
    """

    def __init__(self, text: io.TextIOBase, key: str, limits: LandingLimits) -> None:
        self._text, self._key, self._limits = text, key, limits
        self._chars = [0]  # characters of the record being read (a cell: cheap to reset)
        self._reader = csv.reader(self._lines(), strict=True)
        self.line = 0

    def _lines(self) -> Iterator[str]:
        most, chars, readline = self._limits.line_chars, self._chars, self._text.readline
        while line := readline(most + 1):
            chars[0] += len(line)
            if chars[0] > most:
                self._limits.refuse(
                    self._key,
                    "line_chars",
                    f"the row starting at line {self.line:,} is longer than {most:,} characters",
                    "fix the file or raise the limit",
                )
            yield line

    def next_record(self) -> list[str] | None:
        """The next non-blank record's fields, or None at the end."""
        reader, chars = self._reader, self._chars
        while True:
            self.line = reader.line_num + 1
            chars[0] = 0
            try:
                fields = next(reader)
            except StopIteration:
                return None
            except csv.Error as exc:
                raise LandedFileError(
                    self._key, f"malformed CSV in the row starting at line {self.line}: {exc}"
                ) from exc
            except UnicodeDecodeError as exc:  # the stream changed since it was sniffed
                raise LandedFileError(self._key, f"the file's text changed while it was read: {exc.reason}") from exc
            if len(fields) > 1 or (fields and fields[0].strip()):  # a blank line is not a row
                return fields


class _Table:
    """Rows of one width, kept as Arrow string chunks per column (an empty field is null):
    ``pending`` rows (Python lists) are packed every ``chunk_rows``; rows of another width
    are kept aside in ``bad`` as (line, field count, fields as JSON)."""

    def __init__(self, width: int) -> None:
        self._columns: list[list[pa.Array]] = [[] for _ in range(width)]
        self.pending: list[list[str]] = []
        self.lines = array("q")
        self.chunk_rows = max(1, _CHUNK_CELLS // width)
        self.bad: list[tuple[int, int, str]] = []

    def flush(self) -> None:
        if not self.pending:
            return
        for column, values in zip(self._columns, zip(*self.pending)):
            packed = pa.array(values, type=pa.large_string())
            column.append(pc.if_else(pc.equal(packed, ""), pa.scalar(None, pa.large_string()), packed))
        self.pending = []

    def frame(self, header: list[str]) -> pd.DataFrame:
        self.flush()
        index = pd.Index(np.frombuffer(self.lines, dtype=np.int64).copy(), name="line")
        return pd.DataFrame(
            {
                name: pd.array(pa.chunked_array(chunks, type=pa.large_string()), dtype=_TEXT)
                for name, chunks in zip(header, self._columns)
            },
            index=index,
            columns=header,
        )

    def bad_frame(self, width: int) -> pd.DataFrame:
        return quarantine_rows(
            {
                "line": [line for line, _, _ in self.bad],
                "order_id": [None] * len(self.bad),
                "reason": [f"{count} fields where the header has {width}" for _, count, _ in self.bad],
                "record": [record for _, _, record in self.bad],
            },
            FILE_REJECT_COLUMNS,
        )


def _no_bad_rows() -> pd.DataFrame:
    return quarantine_rows({}, FILE_REJECT_COLUMNS)


def _normalise_header(names: list[str], key: str) -> list[str]:
    normalised = []
    for position, name in enumerate(names):
        clean = str(name).replace("\ufeff", "").strip().lower()
        normalised.append(clean or f"unnamed_{position}")
    counts = Counter(normalised)
    duplicates = sorted(n for n, count in counts.items() if count > 1)
    if duplicates:
        raise LandedFileError(key, f"duplicate column name(s) after normalisation: {_some(duplicates)}")
    return normalised
