"""A multi-run backfill's chunks: the range cut into runs of consecutive days.

Grain: one ``Chunk`` per run of the backfill deployment, ``partitions_per_run`` consecutive
days of the range (the last one may be shorter). The cut depends only on the range and the
size, never on what the warehouse holds, so a retried parent asks for exactly the chunks
its first attempt asked for, under the same idempotency keys: a chunk already started is
found again, never started twice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Chunk:
    """Consecutive days of a backfill run as one run of the backfill deployment."""

    number: int
    """1-based position in the range."""
    days: tuple[dt.date, ...]

    @property
    def start(self) -> dt.date:
        return self.days[0]

    @property
    def end(self) -> dt.date:
        return self.days[-1]

    @property
    def label(self) -> str:
        return f"{self.start}..{self.end}" if len(self.days) > 1 else self.start.isoformat()


def split_range(days: list[dt.date], partitions_per_run: int) -> list[Chunk]:
    """``days`` (consecutive, sorted) in chunks of ``partitions_per_run``."""
    if partitions_per_run < 1:
        raise ValueError(f"partitions_per_run must be at least 1, not {partitions_per_run}")
    return [
        Chunk(n + 1, tuple(days[i : i + partitions_per_run]))
        for n, i in enumerate(range(0, len(days), partitions_per_run))
    ]


def chunk_of(chunks: list[Chunk]) -> dict[dt.date, Chunk]:
    """Each day's chunk."""
    return {day: chunk for chunk in chunks for day in chunk.days}


def chunks_with_work(chunks: list[Chunk], to_compute: set[dt.date]) -> set[Chunk]:
    """The chunks that start a run: those with a day to compute (the others are current)."""
    return {chunk for chunk in chunks if to_compute.intersection(chunk.days)}


def idempotency_key(parent_run_id: str, config: str, chunk: Chunk) -> str:
    """The key of a chunk's run: one run per (parent run, environment, chunk), so a retry
    of the parent finds the run its first attempt started."""
    return f"backfill-chunk/{parent_run_id}/{config}/{chunk.label}"
