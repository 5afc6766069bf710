"""Source fingerprints: a short, stable digest of what a partition's source holds.

A day's source fingerprint is computed in the database from one aggregate per day (no row
leaves it): row count, non-null counts of the key columns, sum of amounts, smallest and
largest order id, newest ``updated_at`` when the source has it, and the sum of a 64-bit hash
of each row's contract columns (``order_id``, ``customer_id``, ``amount``, ``order_date``,
``updated_at`` when the source has it). The row hashes make it see every edit of those
columns, including those that keep every count, sum and bound (two orders swapping
amounts, an order moving to another customer); a sum does not depend on the order the rows
are read in. Postgres hashes a row with ``hash_record_extended`` (typed: a NULL is not an
empty string, a time zone setting changes nothing) and hashes that again (``RowHashes``
explains why); SQLite has no hash function, so ``RowHashes`` below is registered on the
connection as an aggregate. Columns outside the contract are not part of it. A landed
file's part is its bucket, key and ETag. Comparing the fingerprint with the ledger tells
whether a partition is up to date without extracting it; ``force`` recomputes regardless.
``PIPELINE_VERSION`` is part of every fingerprint: bump it when a transform's logic changes,
and every cached partition is recomputed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import marshal
import struct
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

PIPELINE_VERSION = "1"


def fingerprint(parts: Mapping[str, object]) -> str:
    """A 16-hex-digit digest of ``parts`` (order of keys does not matter)."""
    material = json.dumps(
        {"pipeline_version": PIPELINE_VERSION, **{k: _canonical(v) for k, v in parts.items()}},
        sort_keys=True,
    )
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def _canonical(value: object) -> object:
    """Render numbers and timestamps the same way whichever driver returned them."""
    if value is None:
        return None
    if isinstance(value, (Decimal, float)):
        return format(Decimal(str(value)).normalize(), "f")
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return str(value)


ROW_HASHES = "revenue_row_hashes"
"""The SQL name ``RowHashes`` is registered under on a SQLite connection."""
_MODULUS = 2**64


class RowHashes:
    """An order-independent digest of rows: the sum, modulo 2**64, of a 64-bit BLAKE2b hash
    of each row. A SQLite aggregate (``create_aggregate(ROW_HASHES, -1, RowHashes)``).

    A row is hashed as its values' tuple in ``marshal`` format 0, each value typed and text
    length-prefixed: a NULL differs from ``''`` and from ``0``, ``'10'`` from ``10``, and a
    value cannot move into the next column. Format 0 has no references or interning flags,
    so equal values always give the same bytes (and it is twice as fast as ``repr``). The
    hash mixes a whole row, so a sum of them sees values swapped between rows (a sum of
    per-column hashes would not). The result is a signed 64-bit integer, as SQLite stores it.
    """

    def __init__(self) -> None:
        self.total = 0

    def step(self, *values: Any) -> None:
        digest = hashlib.blake2b(marshal.dumps(values, 0), digest_size=8).digest()
        self.total += int.from_bytes(digest, "little")

    def finalize(self) -> int:
        signed: int = struct.unpack("<q", (self.total % _MODULUS).to_bytes(8, "little"))[0]
        return signed
