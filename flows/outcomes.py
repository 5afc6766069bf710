"""A finished partition task run as a ``PartitionOutcome``, and outcomes as log lines."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from prefect.states import State

from revenue.errors import InputSuperseded
from revenue.stages import PartitionOutcome


def outcome_of(partition: dt.date, state: State) -> PartitionOutcome:
    """A finished ``compute_partition`` run as an outcome; a failure becomes a ``failed``
    outcome with the first line of its reason (``superseded`` when its input changed while
    it computed)."""
    try:
        outcome = state.result()
    except InputSuperseded as change:
        return PartitionOutcome(partition.isoformat(), "superseded", error=str(change))
    except Exception as error:  # the task's own exception, with its message
        return PartitionOutcome(partition.isoformat(), "failed", error=first_line(error)[:500])
    if state.name == "Cached":
        outcome = replace(outcome, outcome="cache hit")
    return outcome


def failure_of(state: State | None) -> BaseException | None:
    """The exception a failed task run ended with (None if it did not fail)."""
    if state is None or not state.is_failed():
        return None
    try:
        state.result()
    except BaseException as error:  # noqa: BLE001 - handed back, not swallowed
        return error
    return None


def first_line(error: BaseException) -> str:
    """The first line of an error's message (its type when it has none)."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def describe(outcome: PartitionOutcome) -> str:
    """One line per partition: outcome, revenue, rows and where the time went."""
    if outcome.outcome == "failed":
        return f"{outcome.partition} failed: {outcome.error}"
    text = f"{outcome.partition} {outcome.outcome}"
    if outcome.revenue is not None:
        text += (
            f": revenue {outcome.revenue:,.2f} from {outcome.order_count:,} orders, {outcome.rejected_count:,} rejected"
        )
    if outcome.gates:
        text += "; gates " + ", ".join(f"{k} {v}" for k, v in outcome.gates.items())
    if outcome.stage_ms:
        text += "; " + ", ".join(f"{k} {v} ms" for k, v in outcome.stage_ms.items())
    return text
