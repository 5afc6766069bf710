"""The work of one partition, without Prefect: the stages the flow runs inside one task run
per partition, and the benchmark runs bare.

    raw_orders -> cleaned_orders -> daily_revenue + customer_daily_spend -> publish

``compute`` runs the stages in order, each gated by its dataset's quality suite through
``gate`` (the flow passes one that keeps the results for the partition's quality artifact),
and times them; ``publish`` writes the lake files and replaces the day in the warehouse.
``record_failure`` records a failed attempt (its cause in plain words, its quarantine and
counts) in the ledger; the published version stays as it was.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import pandas as pd
from sqlalchemy.engine import Connection

from revenue import catalog
from revenue.contract import cents_to_decimal
from revenue.io.environment import Environment
from revenue.io.lake import LakeVersion, discard
from revenue.io.partition_input import (
    PartitionInput,
    extract_parts,
    other_versions,
    published_orders_moved_away,
    still_current,
)
from revenue.io.warehouse import publish as publishing
from revenue.io.warehouse.database import Guard
from revenue.io.warehouse.ledger import DatasetRecord, lake_uris
from revenue.quality.gate import GateResult, QualityGateFailed, enforce, run_gate
from revenue.quality.suites import MIN_ROWS, cleaned_parameters, reconciliation_parameters
from revenue.transforms.aggregate import customer_daily_spend, daily_revenue, with_money
from revenue.transforms.clean import CleanedOrders, RawPart, all_counted_elsewhere, clean_orders

Gate = Callable[[str, pd.DataFrame, dt.date, "Mapping[str, Any] | None"], GateResult]
"""Validates a dataset's frame for a partition and returns the (not yet enforced) result."""

STAGES: tuple[str, ...] = ("extract", "clean", "aggregate", "gates", "publish")
"""What a partition's time is spent on, in the order the work happens (gates interleave)."""


@dataclass
class Timings:
    """Seconds spent per stage of one partition; a gate's time is its own, not its stage's
    (``gates`` is all of them, ``gate_seconds`` each dataset's)."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    gate_seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started, gates_before = time.perf_counter(), self.seconds["gates"]
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - started - (self.seconds["gates"] - gates_before)

    def timed(self, gate: Gate) -> Gate:
        def timed_gate(dataset: str, *args: Any) -> GateResult:
            started = time.perf_counter()
            try:
                return gate(dataset, *args)
            finally:
                spent = time.perf_counter() - started
                self.seconds["gates"] += spent
                self.gate_seconds[dataset] = self.gate_seconds.get(dataset, 0.0) + spent

        return timed_gate

    def ms(self, name: str) -> int:
        return round(self.seconds[name] * 1000)

    def dataset_ms(self, stage: str, dataset: str) -> int:
        """A dataset's stage with its gate, as the ledger records it."""
        return round((self.seconds[stage] + self.gate_seconds.get(dataset, 0.0)) * 1000)


@dataclass(frozen=True)
class RawStage:
    """raw_orders: one row per source row of the day and per landed row, as extracted."""

    parts: list[RawPart]
    gate: GateResult
    emptied_by_moves: bool = False
    """No rows because every order the day published now counts on another day."""

    @property
    def rows(self) -> int:
        return sum(len(p.rows) for p in self.parts)


@dataclass(frozen=True)
class CleanedStage:
    """cleaned_orders: one row per order_id; the rest quarantined with a reason."""

    result: CleanedOrders
    gate: GateResult
    raw_rows: int

    @property
    def cleaned(self) -> pd.DataFrame:
        return self.result.cleaned

    @property
    def rejected(self) -> pd.DataFrame:
        return self.result.rejected


@dataclass(frozen=True)
class AggregateStage:
    """daily_revenue (one row for the day) and customer_daily_spend (one row per customer)."""

    revenue: pd.DataFrame
    spend: pd.DataFrame
    gate: GateResult


@dataclass(frozen=True)
class Computed:
    """Every stage of a partition, gated, ready to publish."""

    input: PartitionInput
    raw: RawStage
    cleaned: CleanedStage
    totals: AggregateStage
    timings: Timings

    @property
    def gates(self) -> list[GateResult]:
        return [self.raw.gate, self.cleaned.gate, self.totals.gate]

    def stored_frames(self) -> dict[str, pd.DataFrame]:
        """Each stored dataset's rows of the day by catalog name, as the stages computed them
        (money in cents): what the publish writes and the asset events count."""
        return {
            catalog.CLEANED_ORDERS.name: self.cleaned.cleaned,
            catalog.DAILY_REVENUE.name: self.totals.revenue,
            catalog.CUSTOMER_DAILY_SPEND.name: self.totals.spend,
            catalog.REJECTED_ORDERS.name: self.cleaned.rejected,
        }


Outcome = Literal["published", "cache hit", "up to date", "failed", "superseded"]
"""What one run did with one partition: computed and published it, found its cached result
(the warehouse holds it at that input), skipped it as current, failed it (the cause is in
``error``), or saw its input change while it computed (it is planned again)."""


@dataclass(frozen=True)
class PartitionOutcome:
    """What happened to one partition in one run (small: safe to log and return)."""

    partition: str
    outcome: Outcome
    fingerprint: str | None = None
    revenue: Decimal | None = None
    order_count: int | None = None
    rejected_count: int | None = None
    gates: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    stage_ms: dict[str, int] = field(default_factory=dict)
    """Milliseconds per stage (extract, clean, aggregate, gates, publish) of a computed run."""
    displaced: tuple[str, ...] = ()
    """Other days an order moved to or from by this publish: their input changed, the run
    recomputes them."""


def raw_orders(env: Environment, input: PartitionInput, gate: Gate = run_gate) -> RawStage:
    """The day's rows. None is a critical failure (a broken extract), except for a day whose
    published orders all have versions on other days now: its orders moved away, so it
    publishes zero."""
    parts = extract_parts(env, input)
    frame = parts[0].rows if len(parts) == 1 else pd.concat([p.rows for p in parts], ignore_index=True)
    emptied = frame.empty and published_orders_moved_away(env, input.partition)
    parameters = {MIN_ROWS: 0} if emptied else None
    return RawStage(parts, enforce(gate(catalog.RAW_ORDERS.name, frame, input.partition, parameters)), emptied)


def cleaned_orders(
    partition: dt.date, raw: RawStage, gate: Gate = run_gate, others: pd.DataFrame | None = None
) -> CleanedStage:
    """``others``: the versions of the day's orders on other days (an order whose latest
    version is elsewhere counts there: its row here is quarantined with that reason)."""
    result = clean_orders(raw.parts, partition, others)
    parameters = cleaned_parameters(
        raw.rows, len(result.rejected), raw.emptied_by_moves or all_counted_elsewhere(result)
    )
    outcome = gate(catalog.CLEANED_ORDERS.name, result.cleaned, partition, parameters)
    stage = CleanedStage(result, outcome, raw.rows)
    try:
        enforce(outcome, cause=validity(stage))
    except QualityGateFailed as failure:
        raise StageFailed(failure, stage) from None
    return stage


def aggregates(partition: dt.date, cleaned: CleanedStage, gate: Gate = run_gate) -> AggregateStage:
    revenue = daily_revenue(cleaned.cleaned, partition)
    spend = customer_daily_spend(cleaned.cleaned, partition)
    outcome = gate(catalog.DAILY_REVENUE.name, revenue, partition, reconciliation_parameters(cleaned.cleaned, spend))
    return AggregateStage(revenue, spend, enforce(outcome))


def compute(env: Environment, input: PartitionInput, gate: Gate = run_gate, timings: Timings | None = None) -> Computed:
    """Every stage of the partition, gated, timed (into ``timings`` when given, so the time
    of a stage that failed is kept too)."""
    timings = timings if timings is not None else Timings()
    gate = timings.timed(gate)
    with timings.stage("extract"):
        raw = raw_orders(env, input, gate)
        others = other_versions(env, input, raw.parts)
    with timings.stage("clean"):
        cleaned = cleaned_orders(input.partition, raw, gate, others)
    with timings.stage("aggregate"):
        totals = aggregates(input.partition, cleaned, gate)
    return Computed(input.with_moves(cleaned.result.moves), raw, cleaned, totals, timings)


def validity(cleaned: CleanedStage) -> str:
    """``N of M rows valid: 204 null customer_id, 3 amount is not a finite number``."""
    reasons = ", ".join(f"{n} {reason}" for reason, n in cleaned.result.reasons().items())
    head = f"{len(cleaned.cleaned)} of {cleaned.raw_rows} rows valid"
    return f"{head}: {reasons}" if reasons else head


def publish(env: Environment, computed: Computed, run_id: str | None) -> PartitionOutcome:
    """Write the lake files, then replace the day in the warehouse in one transaction that
    refuses (``InputSuperseded``) if the day's input changed meanwhile (a landed file read
    for the day, source rows edited); the landed files are checked before the lake is
    written too."""
    input, raw, cleaned, totals, timings = (
        computed.input,
        computed.raw,
        computed.cleaned,
        computed.totals,
        computed.timings,
    )
    day = input.partition
    with timings.stage("publish"):
        env.warehouse.check(env.registry.guard(day, input.files), day)  # refuse early, before the lake
        frames = {name: with_money(frame) for name, frame in computed.stored_frames().items()}  # exact money
        # The lake files are written, at keys of this publish's own, while the warehouse
        # transaction runs; it waits for them before writing the ledger rows that name them,
        # and commits only if both succeeded (``revenue.io.lake``).
        lake = LakeVersion(env.lake, day)
        pool = ThreadPoolExecutor(max_workers=len(catalog.IN_LAKE))
        writes = [pool.submit(lake.write, d.name, frames[d.name]) for d in catalog.IN_LAKE]
        pool.shutdown(wait=False)
        output = publishing.PartitionOutput(
            partition=day,
            input=input.record(),
            run_id=run_id,
            tables={d.name: frames[d.name] for d in catalog.PUBLISHED},
            datasets=(
                DatasetRecord(
                    catalog.RAW_ORDERS.name,
                    raw.rows,
                    gate_status=raw.gate.status,
                    gate_summary=raw.gate.summary(),
                    duration_ms=timings.dataset_ms("extract", catalog.RAW_ORDERS.name),
                ),
                DatasetRecord(
                    catalog.CLEANED_ORDERS.name,
                    len(cleaned.cleaned),
                    len(cleaned.rejected),
                    cleaned.result.reasons(),
                    gate_status=cleaned.gate.status,
                    gate_summary=cleaned.gate.summary(),
                    lake_uri=lake.uri(catalog.CLEANED_ORDERS.name),
                    duration_ms=timings.dataset_ms("clean", catalog.CLEANED_ORDERS.name),
                ),
                DatasetRecord(
                    catalog.DAILY_REVENUE.name,
                    len(totals.revenue),
                    gate_status=totals.gate.status,
                    gate_summary=totals.gate.summary(),
                    lake_uri=lake.uri(catalog.DAILY_REVENUE.name),
                    duration_ms=timings.dataset_ms("aggregate", catalog.DAILY_REVENUE.name),
                ),
                DatasetRecord(catalog.CUSTOMER_DAILY_SPEND.name, len(totals.spend)),
            ),
            moves=cleaned.result.moves,
        )
        replaced: dict[str, str] = {}  # dataset -> lake file of the version this publish replaces
        try:
            displaced = publishing.publish(
                env.warehouse,
                output,
                guard=reading_lake_files(env, still_current(env, input), day, replaced),
                before_commit=lambda: lake.settle(replaced, writes),
            )
        except BaseException:
            wait_futures(writes)  # never leave a write running behind a failed publish
            discard(env, lake)
            raise
        lake.retire(replaced)
    row = totals.revenue.iloc[0]
    return PartitionOutcome(
        partition=day.isoformat(),
        outcome="published",
        fingerprint=input.fingerprint,
        revenue=cents_to_decimal(row["revenue_cents"]),
        order_count=int(row["order_count"]),
        rejected_count=len(cleaned.rejected),
        gates={g.dataset: g.status for g in computed.gates},
        stage_ms={name: timings.ms(name) for name in STAGES},
        displaced=tuple(d.isoformat() for d in displaced),
    )


def reading_lake_files(env: Environment, guard: Guard, day: dt.date, into: dict[str, str]) -> Guard:
    """``guard``, then (under the day's lock) the lake files of the day's published version,
    read into ``into`` (dataset -> ``lake_uri``)."""

    def check(connection: Connection) -> None:
        guard(connection)
        into.update(lake_uris(env.warehouse, connection, day))

    return check


class StageFailed(QualityGateFailed):
    """A gate failed after its stage produced rows: carries the stage, so the failed
    attempt's quarantine and counts can be recorded."""

    def __init__(self, failure: QualityGateFailed, stage: CleanedStage) -> None:
        super().__init__(failure.result, failure.cause)
        self.stage = stage

    def __reduce__(self) -> tuple[Any, ...]:
        return (QualityGateFailed, (self.result, self.cause))


def record_failure(env: Environment, input: PartitionInput, run_id: str | None, error: BaseException) -> str:
    """Record a failed attempt in the ledger (and its quarantine when cleaning ran); returns
    the cause recorded: the error's own message, which names the partition and why."""
    cause = str(error).strip() or type(error).__name__
    datasets = [DatasetRecord(catalog.RAW_ORDERS.name)]
    rejected = None
    if isinstance(error, QualityGateFailed):
        datasets = [DatasetRecord(error.result.dataset, gate_status="failed", gate_summary=error.result.summary())]
    if isinstance(error, StageFailed):
        stage = error.stage
        rejected = stage.rejected
        datasets = [
            DatasetRecord(catalog.RAW_ORDERS.name, stage.raw_rows),
            DatasetRecord(
                catalog.CLEANED_ORDERS.name,
                len(stage.cleaned),
                len(stage.rejected),
                stage.result.reasons(),
                gate_status="failed",
                gate_summary=error.result.summary(),
            ),
        ]
    publishing.record_failure(env.warehouse, input.partition, input.record(), run_id, cause, datasets, rejected)
    return cause
