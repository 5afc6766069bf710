"""A landed file's bytes, read in bounded chunks: the object, gzip inflated on the fly under
a cap, and the text encoding decided in one pass without decoding the whole file.

Nothing here holds a whole file's content: ``LandedObject`` keeps the object as it came
(the bytes given, a seekable file, or a spool of a one-way stream), ``content()`` opens a
fresh stream of the file's content (inflating gzip members as they are read, refusing past
``LandingLimits.inflated_bytes``), and ``sniff()`` reads that stream once in ``CHUNK``-sized
pieces to decide the format and encoding (see ``revenue.io.landing.files`` for the rules).
"""

from __future__ import annotations

import codecs
import io
import re
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, Literal

import pyarrow as pa

from revenue.io.landing.limits import LandedFileError, LandingLimits, human_bytes

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
CHUNK = 256 * 1024
"""Bytes read (and inflated) at a time."""
_SPOOL_IN_MEMORY = 8 * 1024 * 1024
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
_NOT_CP1252 = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")  # the only bytes Python's cp1252 rejects
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


# --------------------------------------------------------------------------- the object


class LandedObject:
    """One landed object as stored: bytes, or a seekable binary file positioned at its start."""

    def __init__(self, data: bytes | None, file: IO[bytes] | None, size: int) -> None:
        self._data, self._file, self.size = data, file, size
        self._start = file.tell() if file is not None else 0

    def open(self) -> IO[bytes]:
        """A stream of the object's bytes from the first (the same file, rewound, for a file)."""
        if self._data is not None:
            return io.BytesIO(self._data)  # shares the bytes, no copy
        assert self._file is not None
        self._file.seek(self._start)
        return self._file

    def starts_with(self, magic: bytes) -> bool:
        return self.open().read(len(magic)) == magic

    def random_access(self) -> Any:
        """What pyarrow reads Parquet from without copying: a buffer, or the file itself."""
        return pa.BufferReader(self._data) if self._data is not None else self.open()


@contextmanager
def landed_object(
    data: bytes | bytearray | memoryview | IO[bytes], key: str, limits: LandingLimits
) -> Iterator[LandedObject]:
    """``data`` as a ``LandedObject``, refused past ``limits.object_bytes`` before it is read.

    A one-way stream (an HTTP body) is copied into a temporary spool (in memory up to 8 MiB,
    then on disk) as it is read, and refused as soon as it passes the limit.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        whole = bytes(data)
        limits.check_size(key, len(whole))
        yield LandedObject(whole, None, len(whole))
        return
    if _seekable(data):
        start = data.tell()
        size = data.seek(0, io.SEEK_END) - start
        data.seek(start)
        limits.check_size(key, size)
        yield LandedObject(None, data, size)
        return
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
        size = 0
        while piece := data.read(CHUNK):
            size += len(piece)
            limits.check_size(key, size)
            spool.write(piece)
        spool.seek(0)
        yield LandedObject(None, spool, size)


def _seekable(stream: IO[bytes]) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, OSError, ValueError):
        return False


# --------------------------------------------------------------------------- inflating


class Inflating(io.RawIOBase):
    """The concatenated gzip members of ``source``, inflated as they are read.

    Raises (from ``read``): ``LandingLimitError`` as soon as more than ``limits.inflated_bytes``
    came out (it never inflates more than that plus one byte); ``LandedFileError`` for a
    truncated or corrupt member, or bytes after a member that are not another member.
    """

    def __init__(self, source: IO[bytes], key: str, limits: LandingLimits) -> None:
        super().__init__()
        self._source, self._key, self._limits = source, key, limits
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._input = b""
        self._total = 0
        self._ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        out = self._next(min(len(buffer), self._limits.inflated_bytes + 1 - self._total))
        self._total += len(out)
        if self._total > self._limits.inflated_bytes:
            self._limits.refuse(self._key, "inflated_bytes", f"inflates past {self._limits.describe('inflated_bytes')}")
        memoryview(buffer)[: len(out)] = out
        return len(out)

    def _next(self, most: int) -> bytes:
        while not self._ended:
            try:
                out = self._inflate.decompress(self._input, most)
            except zlib.error as exc:
                raise LandedFileError(self._key, "truncated or corrupt gzip") from exc
            self._input = self._inflate.unconsumed_tail
            if out:
                return out
            if self._inflate.eof:
                self._next_member()
            elif not self._input:
                self._input = self._source.read(CHUNK)
                if not self._input:
                    raise LandedFileError(self._key, "truncated or corrupt gzip")
        return b""

    def _next_member(self) -> None:
        rest = self._inflate.unused_data
        while len(rest) < len(GZIP_MAGIC):
            more = self._source.read(CHUNK)
            if not more:
                break
            rest += more
        if not rest:
            self._ended = True
        elif not rest.startswith(GZIP_MAGIC):
            raise LandedFileError(self._key, "truncated or corrupt gzip")
        else:
            self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
            self._input = rest


def content(obj: LandedObject, key: str, limits: LandingLimits, *, gzip: bool) -> IO[bytes]:
    """A fresh buffered stream of the file's content: inflated when ``gzip``, within limits."""
    if gzip:
        return io.BufferedReader(Inflating(obj.open(), key, limits), CHUNK)
    if obj.size > limits.inflated_bytes:
        limits.refuse(key, "inflated_bytes", f"is {human_bytes(obj.size)}, over {limits.describe('inflated_bytes')}")
    return obj.open()


def read_all(stream: IO[bytes]) -> bytearray:
    """Every byte left in ``stream`` (already bounded by its limits), without a final copy."""
    whole = bytearray()
    while piece := stream.read(CHUNK):
        whole += piece
    return whole


# --------------------------------------------------------------------------- sniffing


@dataclass(frozen=True)
class Sniffed:
    """What the first pass over a file's content found."""

    kind: Literal["parquet", "csv", "empty"]
    encoding: str | None  # CSV only: "utf-8", "utf-8-sig", "utf-16", "cp1252"


def sniff(stream: IO[bytes], key: str) -> Sniffed:
    """The format and (for text) encoding of the content in ``stream``, read once in chunks.

    Parquet and every refusal decided by the first bytes (another format, binary content)
    stop at the first chunk; text is read to the end, so the encoding is that of the whole
    file and a truncated gzip is found here, before any row is parsed.

    Raises:
        LandedFileError: not CSV or Parquet, or text in no accepted encoding.
    """
    first = stream.read(max(CHUNK, _BINARY_SAMPLE))
    if not first:
        return Sniffed("empty", None)
    if first.startswith(PARQUET_MAGIC):
        return Sniffed("parquet", None)
    if first.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        _check_utf16(first, stream, key)
        return Sniffed("csv", "utf-16")
    for magic, what in _OTHER_FORMATS:
        if first.startswith(magic):
            raise LandedFileError(key, f"not CSV or Parquet (looks like {what})")
    if _looks_binary(first[:_BINARY_SAMPLE]):
        raise LandedFileError(key, "not CSV or Parquet (binary content)")
    check = _TextCheck()
    piece = first
    while piece:
        check.feed(piece)
        piece = stream.read(CHUNK)
    check.end()
    return Sniffed("csv", check.encoding(key, bom=first.startswith(codecs.BOM_UTF8)))


def _check_utf16(first: bytes, stream: IO[bytes], key: str) -> None:
    decoder = codecs.getincrementaldecoder("utf-16")()
    piece = first
    try:
        while piece:
            decoder.decode(piece)
            piece = stream.read(CHUNK)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise LandedFileError(key, "invalid UTF-16 text (file starts with a UTF-16 BOM)") from exc


def _looks_binary(sample: bytes) -> bool:
    if b"\x00" in sample:
        return True
    text = sample.decode("latin-1")
    return len(_CONTROL.findall(text)) > _BINARY_CONTROL_SHARE * len(text)


@dataclass
class _Bad:
    byte: int
    line: int


class _TextCheck:
    """UTF-8 validity, UTF-8 multi-byte characters and cp1252 validity of a byte stream, fed
    in chunks; the first invalid byte of each encoding with its line (lines counted by ``\\n``)."""

    def __init__(self) -> None:
        self.lines = 0  # newlines before the current chunk
        self.utf8: _Bad | None = None
        self.cp1252: _Bad | None = None
        self.multibyte = False
        self._carry = b""  # an incomplete UTF-8 sequence at the end of the last chunk
        self._tail = b""  # the last chunk's last bytes, for a multi-byte match across chunks

    def feed(self, piece: bytes) -> None:
        if piece.isascii() and not self._carry:  # the usual case: nothing to decode or find
            self.lines += piece.count(b"\n")
            self._tail = piece[-3:]
            return
        if self.utf8 is None:
            joined = self._carry + piece if self._carry else piece
            try:
                _, used = codecs.utf_8_decode(joined, "strict", False)
                self._carry = joined[used:]
            except UnicodeDecodeError as exc:
                offset = exc.start - len(self._carry)  # the carry holds no newline
                self.utf8 = _Bad(joined[exc.start], self._line(piece, max(offset, 0)))
        if not self.multibyte:
            self.multibyte = _UTF8_MULTIBYTE.search(self._tail + piece) is not None
            self._tail = piece[-3:]
        if self.cp1252 is None and (found := _NOT_CP1252.search(piece)):
            self.cp1252 = _Bad(piece[found.start()], self._line(piece, found.start()))
        self.lines += piece.count(b"\n")

    def end(self) -> None:
        if self.utf8 is None and self._carry:  # the file ends inside a UTF-8 sequence
            self.utf8 = _Bad(self._carry[0], self.lines + 1)

    def _line(self, piece: bytes, offset: int) -> int:
        return self.lines + piece.count(b"\n", 0, offset) + 1

    def encoding(self, key: str, *, bom: bool) -> str:
        if self.utf8 is None:
            return "utf-8-sig" if bom else "utf-8"
        if bom or self.multibyte:
            why = "starts with a UTF-8 BOM" if bom else "has valid UTF-8 multi-byte characters"
            raise LandedFileError(
                key,
                f"mixed encodings: the file {why} but byte {self.utf8.byte:#04x} at line {self.utf8.line} is not UTF-8",
            )
        if self.cp1252 is not None:
            raise LandedFileError(
                key, f"not UTF-8 or cp1252 text (byte {self.cp1252.byte:#04x} at line {self.cp1252.line})"
            )
        return "cp1252"
