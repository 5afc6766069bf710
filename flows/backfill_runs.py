"""A multi-run backfill: the range in chunks, each chunk a run of the backfill deployment.

The parent run plans the range (a few queries), starts one run of the backfill deployment
per chunk that has a day to compute (``run_deployment``, linked as a subflow, with an
idempotency key per parent run and chunk), then waits for them: the workers of the pool
take the chunks, any worker any chunk (results live in the environment's object storage,
each day's publish is serialized by a Postgres advisory lock).

While it waits, the parent follows the ledger: a day counts as done once a chunk run has
recorded it (published or failed), which moves the ``backfill-progress`` artifact and the
log. When every chunk run is final, each day's outcome comes from the ledger, never from a
child's result (those live in the child's process): published by a chunk run, failed with
the cause the ledger recorded, up to date (skipped), or not computed because its chunk run
crashed or was cancelled (the run's state message says why).

A retry of the parent (Prefect's Retry, on a Failed parent) asks for the same chunks under
the same keys: a chunk run still going is waited for, a completed one is left alone, and one
that failed or crashed is retried in place (the same flow run, ``AwaitingRetry``); it skips
the days its first attempt published. A new parent run over a range that is all current
starts no chunk at all.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, cast
from uuid import UUID

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.responses import OrchestrationResult, SetStateStatus
from prefect.runtime import flow_run
from prefect.states import AwaitingRetry, State

from flows.partition import PartitionOutcome, PartitionPlan
from flows.started_runs import start_run
from revenue import catalog
from revenue.chunks import Chunk, chunks_with_work, idempotency_key, split_range
from revenue.io.environment import environment
from revenue.io.warehouse.ledger import read_ledger
from revenue.status import first_line_of
from revenue.untrusted import markdown_table, markdown_text

BACKFILL_DEPLOYMENT = "backfill/range"
"""The deployment a parent outside a deployment run (``revenue backfill``) starts its chunks on."""
POLL_S = 3.0
"""How often the parent reads its chunk runs' states (one API call) and the ledger (one query)."""
PAGE = 200
"""Flow runs read per API call (the server refuses a larger page)."""
OUTAGE_LIMIT_S = 600.0
"""How long the parent keeps polling through API or database errors before it gives up."""
LATE_AFTER_S = 120.0
"""A chunk run still scheduled this long after the start: the log says no worker takes it."""


ChunkRunState = Literal[
    "SCHEDULED", "PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED", "CRASHED", "PAUSED", "CANCELLING", "DELETED"
]
"""A chunk run's state type: Prefect's ``StateType`` values, and ``DELETED`` for a run the
API no longer has."""
FINAL: tuple[ChunkRunState, ...] = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED", "DELETED")


def state_of(state: State) -> ChunkRunState:
    """A Prefect state's type as a ``ChunkRunState``."""
    return cast(ChunkRunState, state.type.value)


class DeploymentMissing(RuntimeError):
    """The API has no backfill deployment to start the chunks on (the message says how to get one)."""


@dataclass
class ChunkRun:
    """One chunk and the run of the backfill deployment that computes it."""

    chunk: Chunk
    chunk_count: int
    run_id: UUID
    name: str
    state_type: ChunkRunState = "SCHEDULED"
    state_name: str = "Scheduled"
    message: str = ""
    worker: str = ""

    @property
    def final(self) -> bool:
        return self.state_type in FINAL


def chunk_parameters(
    chunk: Chunk, config: str, force: bool, max_concurrency: int, skip_up_to_date: bool
) -> dict[str, Any]:
    return {
        "start": chunk.start.isoformat(),
        "end": chunk.end.isoformat(),
        "env": config,
        "force": force,
        "max_concurrency": max_concurrency,
        "skip_up_to_date": skip_up_to_date,
        "partitions_per_run": 0,
    }


def target_deployment() -> str | UUID:
    """This run's own deployment (a deployment run starts its chunks where it runs), else
    ``backfill/range``."""
    from prefect.runtime import deployment

    return UUID(deployment.id) if deployment.id else BACKFILL_DEPLOYMENT


def start_chunk_run(chunk: Chunk, total: int, parameters: dict[str, Any], key: str) -> ChunkRun:
    """The chunk's run: started now, or found again under its key (a retry of the parent).
    One found failed, crashed or cancelled is retried in place; its published days are
    skipped by the rerun."""
    from prefect.exceptions import ObjectNotFound

    deployment = target_deployment()
    try:
        run = start_run(deployment, parameters, key, f"backfill-{chunk.label}", ["backfill-chunk"], as_subflow=True)
    except ObjectNotFound:
        raise DeploymentMissing(
            f"a multi-run backfill starts its chunks as runs of the {deployment} deployment, which this Prefect "
            "API does not have: deploy prefect.yaml (prefect deploy --all) or serve it (revenue dev)"
        ) from None
    state = run.state
    if state is not None and state.is_final() and not state.is_completed():
        with get_client(sync_client=True) as client:
            answer: OrchestrationResult[Any] = client.set_flow_run_state(
                run.id,
                AwaitingRetry(
                    scheduled_time=dt.datetime.now(dt.timezone.utc),
                    message=f"retried by backfill {flow_run.name}: it ended {state.name}",
                ),
            )
        if answer.status != SetStateStatus.ACCEPT:
            get_run_logger().warning(
                "chunk %d/%d %s: the server refused to retry its run %s (%s): its days are reported as it left them",
                chunk.number,
                total,
                chunk.label,
                run.name,
                getattr(answer.details, "reason", answer.status.value),
            )
            return ChunkRun(chunk, total, run.id, run.name, state_of(state), state.name or "", state.message or "")
        get_run_logger().info(
            "chunk %d/%d %s: its run %s had ended %s; retrying it (its published days are skipped)",
            chunk.number,
            total,
            chunk.label,
            run.name,
            state.name,
        )
    return ChunkRun(chunk, total, run.id, run.name)


def read_chunk_runs(runs: list[ChunkRun]) -> None:
    """Refresh every chunk run's state and worker (an API call per ``PAGE`` runs). A run the
    API no longer has (deleted) is final: its days are reported not computed."""
    by_id = {run.run_id: run for run in runs if not run.final}
    ids = list(by_id)
    found = []
    with get_client(sync_client=True) as client:
        for first in range(0, len(ids), PAGE):
            page = ids[first : first + PAGE]
            found += client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=page)), limit=len(page)
            )
    for gone in set(by_id) - {record.id for record in found}:
        by_id[gone].state_type, by_id[gone].state_name = "DELETED", "Deleted"
        by_id[gone].message = "the flow run no longer exists"
    for record in found:
        run = by_id[record.id]
        run.name = record.name
        if record.state is not None:
            run.state_type, run.state_name = state_of(record.state), record.state.name or record.state.type.value
            run.message = first_line_of(record.state.message)
        run.worker = str((record.labels or {}).get("prefect.worker.name", run.worker))


def recorded_by(config: str, start: dt.date, end: dt.date, run_ids: set[str]) -> dict[dt.date, PartitionOutcome]:
    """The days of ``[start, end]`` whose last ledger record a chunk run wrote, as outcomes
    (published, or failed with the recorded cause): one query."""
    rows = read_ledger(environment(config).warehouse, start, end)
    days: dict[dt.date, list[Any]] = {}  # ledger rows
    for row in rows:
        if row.run_id in run_ids:
            days.setdefault(row.partition_date, []).append(row)
    outcomes = {}
    for day, records in days.items():
        failed = [r for r in records if r.status == "failed"]
        if failed:
            error = first_line_of(failed[0].error, limit=500) or "failed"
            outcomes[day] = PartitionOutcome(day.isoformat(), "failed", fingerprint=failed[0].fingerprint, error=error)
        else:
            cleaned = next((r for r in records if r.dataset == catalog.CLEANED_ORDERS.name), records[0])
            outcomes[day] = PartitionOutcome(
                day.isoformat(),
                "published",
                fingerprint=records[0].published_fingerprint,
                order_count=cleaned.row_count,
                rejected_count=cleaned.rejected_count,
                gates={r.dataset: r.gate_status for r in records if r.gate_status},
            )
    return outcomes


def wait_for_chunk_runs(
    config: str,
    days: list[dt.date],
    runs: list[ChunkRun],
    to_compute: set[dt.date],
    on_day: Callable[[PartitionOutcome], None],
) -> dict[dt.date, PartitionOutcome]:
    """Poll the chunk runs and the ledger until every chunk run is final; ``on_day(outcome)``
    once for each day to compute that a chunk run records. An API or database error skips a
    poll (logged); errors for ``OUTAGE_LIMIT_S`` in a row end the wait with the last one.
    Returns what the chunk runs recorded."""
    logger = get_run_logger()
    ids = {str(run.run_id) for run in runs}
    seen: set[dt.date] = set()
    states: dict[UUID, str] = {}
    started, warned_late, failing_since = time.monotonic(), False, None
    recorded: dict[dt.date, PartitionOutcome] = {}
    while True:
        try:
            read_chunk_runs(runs)
            recorded = recorded_by(config, days[0], days[-1], ids)
            failing_since = None
        except Exception as error:  # an outage skips a poll; the chunk runs go on regardless
            failing_since = failing_since or time.monotonic()
            if time.monotonic() - failing_since > OUTAGE_LIMIT_S:
                raise
            logger.warning("could not read the chunk runs' progress, retrying in %.0f s: %s", POLL_S, error)
            time.sleep(POLL_S)
            continue
        for day in sorted((set(recorded) & to_compute) - seen):
            seen.add(day)
            on_day(recorded[day])
        for run in runs:
            if states.get(run.run_id) != run.state_name:
                states[run.run_id] = run.state_name
                where = f" on worker {run.worker}" if run.worker else ""
                why = f": {run.message}" if run.message and run.state_type != "COMPLETED" else ""
                logger.info(
                    "chunk %d/%d %s (%s): %s%s%s",
                    run.chunk.number,
                    run.chunk_count,
                    run.chunk.label,
                    run.name,
                    run.state_name,
                    where,
                    why,
                )
        if all(run.final for run in runs):
            return recorded
        waiting = [run for run in runs if run.state_type == "SCHEDULED"]
        if waiting and not warned_late and time.monotonic() - started > LATE_AFTER_S:
            warned_late = True
            logger.warning(
                "%d chunk run(s) still scheduled after %.0f s: is a worker polling the pool of %s?",
                len(waiting),
                LATE_AFTER_S,
                target_deployment(),
            )
        time.sleep(POLL_S)


def day_outcomes(
    days: list[dt.date],
    plan: PartitionPlan,
    chunks: list[Chunk],
    runs: list[ChunkRun],
    recorded: dict[dt.date, PartitionOutcome],
    current: set[dt.date],
) -> list[PartitionOutcome]:
    """Every day's outcome once the chunk runs are final: what a chunk run recorded; up to
    date when it was skipped at planning, or is current now (its chunk run found it current
    or cached, or another run published it); else not computed, with its chunk run's end."""
    skipped = {o.partition: o for o in plan.up_to_date}
    run_of = {run.chunk: run for run in runs}
    outcomes = []
    for chunk in chunks:
        run = run_of.get(chunk)
        for day in chunk.days:
            if day in recorded:
                outcomes.append(recorded[day])
            elif day.isoformat() in skipped:
                outcomes.append(skipped[day.isoformat()])
            elif day in current:
                outcomes.append(PartitionOutcome(day.isoformat(), "up to date"))
            else:
                why = (
                    (run.state_name + (f": {run.message}" if run.message else "")) if run is not None else "not started"
                )
                outcomes.append(
                    PartitionOutcome(
                        day.isoformat(),
                        "failed",
                        error=(f"not computed: its chunk run {run.name if run else chunk.label} ended {why}")[:500],
                    )
                )
    return outcomes


def current_days(config: str, days: list[dt.date]) -> set[dt.date]:
    """Which of ``days`` the warehouse holds at their current input now (a few queries)."""
    if not days:
        return set()
    from revenue.io.partition_input import plan_inputs
    from revenue.status import CURRENT, classify_range

    env = environment(config)
    return {s.partition for s in classify_range(env, plan_inputs(env, sorted(days))) if s.state in CURRENT}


def publish_chunk_table(
    config: str, runs: list[ChunkRun], outcomes: list[PartitionOutcome], chunks: list[Chunk]
) -> None:
    """The ``backfill-chunks`` artifact: each chunk, its run, the worker that ran it, its end."""
    by_day = {o.partition: o.outcome for o in outcomes}
    run_of = {run.chunk: run for run in runs}
    rows = []
    for chunk in chunks:
        run = run_of.get(chunk)
        tally: dict[str, int] = {}
        for day in chunk.days:
            tally[by_day[day.isoformat()]] = tally.get(by_day[day.isoformat()], 0) + 1
        rows.append(
            {
                "chunk": chunk.number,
                "days": chunk.label,
                "run": run.name if run else "not started (all current)",
                "worker": run.worker if run else "",
                "state": run.state_name if run else "",
                "outcomes": ", ".join(f"{n} {k}" for k, n in sorted(tally.items())),
            }
        )
    create_markdown_artifact(  # markdown, every cell escaped: run and worker names come from the API
        key="backfill-chunks",
        markdown="# Chunk runs\n\n" + markdown_table(rows),
        description=f"multi-run backfill of {markdown_text(config)}: chunk runs",
    )


def run_in_chunks(
    config: str,
    days: list[dt.date],
    plan: PartitionPlan,
    force: bool,
    max_concurrency: int,
    skip_up_to_date: bool,
    partitions_per_run: int,
    on_day: Callable[[PartitionOutcome], None],
) -> list[PartitionOutcome]:
    """Start a run per chunk with a day to compute, wait for them all, and return every
    day's outcome (see the module docstring); ``on_day`` as each day is done."""
    logger = get_run_logger()
    chunks = split_range(days, partitions_per_run)
    to_compute = {i.partition for i in plan.to_compute}
    parent = str(flow_run.id)
    runs = []
    with_work = chunks_with_work(chunks, to_compute)
    for chunk in chunks:
        if chunk not in with_work:
            logger.info("chunk %d/%d %s: every day is current, no run started", chunk.number, len(chunks), chunk.label)
            continue
        parameters = chunk_parameters(chunk, config, force, max_concurrency, skip_up_to_date)
        runs.append(start_chunk_run(chunk, len(chunks), parameters, idempotency_key(parent, config, chunk)))
    logger.info(
        "backfill %s..%s: %d day(s) to compute in %d chunk run(s) of up to %d day(s); %d current",
        days[0],
        days[-1],
        len(to_compute),
        len(runs),
        partitions_per_run,
        len(plan.up_to_date),
    )
    for outcome in plan.up_to_date:
        on_day(outcome)
    recorded = wait_for_chunk_runs(config, days, runs, to_compute, on_day) if runs else {}
    unrecorded = [day for day in to_compute if day not in recorded]
    outcomes = day_outcomes(days, plan, chunks, runs, recorded, current_days(config, unrecorded))
    publish_chunk_table(config, runs, outcomes, chunks)
    return outcomes
