"""What a ``compute_partition`` run reports when it ends, one function per end:

    published      the quality artifact, the asset events of what was published (with
                   their lineage), the ``revenue.partition.published`` event, the
                   ``recovered`` message of an alert sent about the day, the log line
    failed         the quality artifact, the failure in the ledger, the log line, the
                   ``revenue.partition.failed`` event (the failed-day alert)
    interrupted    an outage (Prefect retries it) or an input that changed while it
                   computed (the flow plans it again): nothing recorded; an outage whose
                   retries are spent is a failed-day alert

A message that cannot be sent, or a ledger record that cannot be written, is a warning in
the log: it never hides what happened to the partition itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from prefect import get_run_logger
from prefect.context import TaskRunContext
from prefect.runtime import flow_run
from prefect.states import Failed, State

from flows.alert_events import emit_failed, emit_published, resolve
from flows.outcomes import describe, first_line
from flows.partition_records import emit_asset_events, quality_artifact
from revenue import stages
from revenue.errors import ServiceUnavailableError
from revenue.io.environment import Environment
from revenue.io.partition_input import PartitionInput
from revenue.quality.gate import GateResult, run_gate
from revenue.stages import PartitionOutcome
from revenue.status import State as PartitionState


@dataclass
class PartitionRun:
    """One partition's compute and publish as it goes: its gates' results and stage times,
    and what it computed (None until every stage has run)."""

    env: Environment
    config: str
    partition: dt.date
    input: PartitionInput
    results: list[GateResult] = field(default_factory=list)
    timings: stages.Timings = field(default_factory=stages.Timings)
    computed: stages.Computed | None = None

    def compute(self) -> stages.Computed:
        """Every stage as plain calls, each gated by its quality suite."""
        self.computed = stages.compute(self.env, self.input, self.gate, self.timings)
        return self.computed

    def gate(self, dataset: str, frame: pd.DataFrame, day: dt.date, parameters: Mapping[str, Any] | None) -> GateResult:
        result = run_gate(dataset, frame, day, parameters)
        self.results.append(result)
        return result


def report_published(run: PartitionRun, outcome: PartitionOutcome, was: PartitionState | None) -> PartitionOutcome:
    """A publish: artifact, asset events, the published event, the resolved alert, the log."""
    assert run.computed is not None  # published: every stage ran
    headline = f"published: revenue {outcome.revenue:,.2f} from {outcome.order_count:,} orders"
    quality_artifact(run.partition, headline, run.computed, run.results, run.timings)
    emit_asset_events(run.env, run.computed, outcome)
    emit_published(run.config, outcome.partition, outcome.fingerprint, run_id())
    _resolve_alert(run, was, outcome)
    get_run_logger().info("%s", describe(outcome))
    return outcome


def report_failed(run: PartitionRun, failure: Exception) -> State:
    """A failure: artifact (the stages that ran), ledger record, log, failed-day alert; the
    task run ends Failed with the cause as its message (no traceback: the cause is the news)."""
    cause = first_line(failure)
    quality_artifact(run.partition, f"failed: {cause}", run.computed, run.results, run.timings)
    _record_failure(run, failure)
    get_run_logger().error("partition %s failed: %s", run.partition, cause)
    _alert_failure(run, cause)
    return Failed(message=f"partition {run.partition} failed: {cause}", data=failure)


def report_interrupted(run: PartitionRun, change: Exception) -> State:
    """An outage or a changed input: no ledger record, no traceback; an outage with no
    retry left is a failed-day alert."""
    if isinstance(change, ServiceUnavailableError) and last_attempt():
        _alert_failure(run, first_line(change))
    return Failed(message=f"partition {run.partition}: {first_line(change)}", data=change)


def _record_failure(run: PartitionRun, failure: Exception) -> None:
    """The failure in the ledger; a failure to write it never hides the failure itself."""
    try:
        stages.record_failure(run.env, run.input, run_id(), failure)
    except Exception as error:  # the failure itself is what the run must report
        get_run_logger().warning("could not record the failure of %s in the ledger: %s", run.partition, error)


def _resolve_alert(run: PartitionRun, was: PartitionState | None, outcome: PartitionOutcome) -> None:
    """The "resolved" message of an alert sent about the day (``was``: its state before the
    run); a failure to send it never fails the publish."""
    env = run.env
    try:
        resolve(env.warehouse, run.config, run.partition, was, env.block.alert_deadline, outcome, run_id())
    except Exception as error:  # noqa: BLE001 - the day is published; only the message is lost
        get_run_logger().warning("could not send the resolved alert of %s: %s", run.partition, first_line(error))


def _alert_failure(run: PartitionRun, cause: str) -> None:
    """The failed-day alert's event; a failure to send it never hides the failure itself."""
    try:
        emit_failed(run.env.warehouse, run.config, run.partition.isoformat(), cause, run.input.fingerprint, run_id())
    except Exception as error:  # noqa: BLE001 - the run reports the partition's own failure
        get_run_logger().warning("could not send the failed-day alert of %s: %s", run.partition, first_line(error))


def last_attempt() -> bool:
    """Whether this task run has no retry left."""
    context = TaskRunContext.get()
    return context is None or context.task_run.run_count > (context.task.retries or 0)


def run_id() -> str | None:
    """This flow run's id (None outside a run)."""
    return str(flow_run.id) if flow_run.id else None
