"""A finished partition task run as a ``PartitionOutcome``, outcomes as log lines, and the
Failed state a flow run ends with when it failed for a reason it reports itself.

A flow of this project ends a failed run by returning ``failed_run(message, error)``: the
run ends Failed with ``message`` (each failed day and its cause), and a caller in the same
process (``revenue run``, ``revenue backfill``) gets ``error`` raised. Run as deployments
run it (``python -m prefect.engine``, started by ``prefect.serve`` or a process worker),
Prefect 3's engine raises that error again once the run has ended and logs it as
"Engine execution exited with unexpected exception" with its traceback
(``prefect.flow_engine.run_flow``), although nothing unexpected happened. Importing this
module installs a filter on Prefect's flow-run logger that drops that one record when its
exception is one a flow returned through ``failed_run``: the run's log then ends with the
cause and its final state. Any other exception keeps its traceback.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace
from decimal import Decimal

from prefect.states import Failed, State

from revenue.errors import InputSuperseded
from revenue.stages import PartitionOutcome


def outcome_of(
    partition: dt.date, state: State, held: tuple[Decimal | None, int | None] | None = None
) -> PartitionOutcome:
    """A finished ``compute_partition`` run as an outcome; a failure becomes a ``failed``
    outcome with the first line of its reason (``superseded`` when its input changed while
    it computed). A cache hit reports ``held``, the (revenue, order count) the warehouse
    holds for the day (read when the run planned it), not the numbers its cached result
    remembers: the warehouse, not the cache, is what is published."""
    try:
        outcome = state.result()
    except InputSuperseded as change:
        return PartitionOutcome(partition.isoformat(), "superseded", error=str(change))
    except Exception as error:  # the task's own exception, with its message
        return PartitionOutcome(partition.isoformat(), "failed", error=first_line(error)[:500])
    if state.name == "Cached":
        outcome = replace(outcome, outcome="cache hit")
        if held is not None:
            outcome = replace(outcome, revenue=held[0], order_count=held[1])
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


ENGINE_EXIT_LINE = "Engine execution exited with unexpected exception"
"""What ``prefect.flow_engine.run_flow`` logs (with a traceback) when a run's result raises."""
_REPORTED = "_revenue_reported_by_its_run"


def failed_run(message: str, error: BaseException) -> State:
    """The state that ends a flow run Failed with ``message``, ``error`` as its data (what a
    caller in the same process gets raised); the engine's later re-raise of ``error`` is not
    logged as an unexpected exception (see the module docstring)."""
    try:
        setattr(error, _REPORTED, True)
    except AttributeError:  # an exception without a __dict__ keeps the engine's line
        pass
    return Failed(message=message, data=error)


class ReportedFailureFilter(logging.Filter):
    """Drops the engine's "unexpected exception" record of a failure a flow reported itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info is None or record.getMessage() != ENGINE_EXIT_LINE:
            return True
        return not getattr(record.exc_info[1], _REPORTED, False)


def quiet_reported_failures() -> None:
    """Install ``ReportedFailureFilter`` on Prefect's flow-run logger (once per process)."""
    logger = logging.getLogger("prefect.flow_runs")
    if not any(isinstance(f, ReportedFailureFilter) for f in logger.filters):
        logger.addFilter(ReportedFailureFilter())


quiet_reported_failures()  # on import: the engine loads the flow (and this module) before it runs it
