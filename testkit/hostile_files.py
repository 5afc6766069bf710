"""Small landed files that are large when read: what an attacker or an unlucky exporter
lands, built cheaply (without ever holding what they inflate to) for the tests and the
benchmark of the landed-file limits."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from revenue.contract import REQUIRED_COLUMNS

ORDERS_COLUMNS = REQUIRED_COLUMNS


def gzip_of_repeats(head: bytes, block: bytes, repeats: int, members: int = 1) -> bytes:
    """A valid gzip of ``head`` + ``block * repeats`` (split in ``members`` members), built
    without holding the inflated bytes: deflate restarts at each full flush, so one block's
    compressed bytes are reused for every repeat."""
    out = []
    per_member = repeats // members
    for member in range(members):
        count = per_member if member < members - 1 else repeats - per_member * (members - 1)
        first = head if member == 0 else b""
        deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
        body = [deflate.compress(first) + deflate.flush(zlib.Z_FULL_FLUSH)]
        one = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
        body.append(one * count)
        body.append(deflate.flush())
        crc = zlib.crc32(first)
        for _ in range(count):
            crc = zlib.crc32(block, crc)
        size = len(first) + len(block) * count
        out += [b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff", *body, struct.pack("<II", crc, size & 0xFFFFFFFF)]
    return b"".join(out)


def tall_parquet(rows: int, row_group: int = 1_000_000) -> bytes:
    """A Parquet file of ``rows`` identical orders, dictionary-encoded: a few KB per million."""
    chunk = min(rows, row_group)
    table = pa.table(
        {
            name: pa.DictionaryArray.from_arrays(pa.array(np.zeros(chunk, dtype=np.int32)), pa.array([value]))
            for name, value in zip(ORDERS_COLUMNS, ["1", "a", "10", "2026-03-01"])
        }
    )
    buffer = io.BytesIO()
    with pq.ParquetWriter(buffer, table.schema) as writer:
        for _ in range(rows // chunk):
            writer.write_table(table, row_group_size=chunk)
    return buffer.getvalue()


def wide_header_csv(columns: int) -> bytes:
    """A CSV whose header has ``columns`` names (the required four among them) and one row."""
    names = [*ORDERS_COLUMNS, *(f"c{i}" for i in range(columns - len(ORDERS_COLUMNS)))]
    return (",".join(names) + "\n" + ",".join(["1"] * columns) + "\n").encode()
