"""A multi-run backfill's chunks and the outcomes its parent reports from them."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from flows.backfill_runs import ChunkRun, chunk_parameters, day_outcomes
from flows.partition import PartitionPlan
from revenue.chunks import chunk_of, idempotency_key, split_range
from revenue.partitions import partition_range
from revenue.stages import PartitionOutcome

DAYS = partition_range(dt.date(2026, 1, 1), dt.date(2026, 1, 12))


def test_a_range_is_cut_into_consecutive_chunks_the_last_one_shorter():
    chunks = split_range(DAYS, 5)
    assert [(c.number, c.label) for c in chunks] == [
        (1, "2026-01-01..2026-01-05"),
        (2, "2026-01-06..2026-01-10"),
        (3, "2026-01-11..2026-01-12"),
    ]
    assert [day for c in chunks for day in c.days] == DAYS
    assert chunk_of(chunks)[dt.date(2026, 1, 6)].number == 2
    assert split_range(DAYS[:1], 5)[0].label == "2026-01-01"
    with pytest.raises(ValueError, match="at least 1"):
        split_range(DAYS, 0)


def test_the_cut_and_the_keys_depend_only_on_the_parent_the_range_and_the_size():
    first, again = split_range(DAYS, 4), split_range(list(DAYS), 4)
    assert [idempotency_key("run-1", "prod", c) for c in first] == [idempotency_key("run-1", "prod", c) for c in again]
    keys = {
        idempotency_key(parent, config, c) for parent in ("run-1", "run-2") for config in ("prod", "dev") for c in first
    }
    assert len(keys) == 2 * 2 * 3  # another parent run or environment never finds this one's chunk runs


def test_a_chunk_run_is_a_one_run_backfill_of_its_days():
    [chunk, *_] = split_range(DAYS, 3)
    assert chunk_parameters(chunk, "prod", False, 2, True) == {
        "start": "2026-01-01",
        "end": "2026-01-03",
        "env": "prod",
        "force": False,
        "max_concurrency": 2,
        "skip_up_to_date": True,
        "partitions_per_run": 0,
    }


def test_every_day_gets_an_outcome_from_the_ledger_the_plan_or_its_chunk_runs_end():
    # days 1-2: crashed run; 3-4: failed run (day 3 failed, day 4 current now: its run found it
    # current); 5-6: all current at planning, no run; 7-8: a completed run, day 8 not current
    chunks = split_range(DAYS[:8], 2)
    plan = PartitionPlan(to_compute=[], up_to_date=[PartitionOutcome(d.isoformat(), "up to date") for d in DAYS[4:6]])
    crashed = ChunkRun(
        chunks[0],
        4,
        uuid.uuid4(),
        "backfill-a",
        state_type="CRASHED",
        state_name="Crashed",
        message="Flow run infrastructure exited with non-zero status code -9.",
    )
    failed = ChunkRun(chunks[1], 4, uuid.uuid4(), "backfill-b", state_type="FAILED", state_name="Failed")
    completed = ChunkRun(chunks[3], 4, uuid.uuid4(), "backfill-d", state_type="COMPLETED", state_name="Completed")
    recorded = {
        DAYS[0]: PartitionOutcome("2026-01-01", "published", order_count=3),
        DAYS[2]: PartitionOutcome("2026-01-03", "failed", error="quality gate failed for cleaned_orders"),
        DAYS[6]: PartitionOutcome("2026-01-07", "published", order_count=2),
    }
    current = {DAYS[3]}
    outcomes = {
        o.partition: o for o in day_outcomes(DAYS[:8], plan, chunks, [crashed, failed, completed], recorded, current)
    }
    assert [outcomes[d.isoformat()].outcome for d in DAYS[:8]] == [
        "published",
        "failed",
        "failed",
        "up to date",
        "up to date",
        "up to date",
        "published",
        "failed",
    ]
    assert outcomes["2026-01-02"].error == (
        "not computed: its chunk run backfill-a ended Crashed: "
        "Flow run infrastructure exited with non-zero status code -9."
    )
    assert outcomes["2026-01-03"].error == "quality gate failed for cleaned_orders"
    assert outcomes["2026-01-08"].error.startswith("not computed: its chunk run backfill-d ended Completed")
