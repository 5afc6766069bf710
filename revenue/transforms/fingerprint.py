"""Source fingerprints: a short, stable digest of what a partition's source holds.

A fingerprint is computed from a cheap aggregate of the day's source rows (row count,
non-null counts of the key columns, sum of amounts, smallest and largest order id,
newest ``updated_at`` when the source has it) or, for a landed file, its bucket, key and ETag. It never needs the rows
themselves, so comparing it with the ledger tells whether a partition is up to date
without extracting it. An in-place edit that changes none of these (say, a new
``customer_id`` with the same ``updated_at``) is not seen: sources should bump
``updated_at`` on edit, and ``force`` recomputes regardless. ``PIPELINE_VERSION`` is part of every
fingerprint: bump it when a transform's logic changes, and every cached partition is recomputed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from decimal import Decimal

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
