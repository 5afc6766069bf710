"""A run's progress over its partitions, in one object: ``RunProgress``.

Every run that computes partitions (``daily-revenue``, ``backfill``, a chunk run of a
multi-run backfill) holds one. It refreshes the ``partition-status`` grid when the
partitions start (the days to compute shown running) and when they end, whatever the end
(``flows.status_grid``); it counts the days as they finish; for a backfill it also moves the
``backfill-progress`` artifact and tells the terminal (``revenue backfill``'s progress bar,
which listens through ``progress_reported_to``).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import TracebackType
from typing import TYPE_CHECKING, cast
from uuid import UUID

from prefect.artifacts import create_progress_artifact, update_progress_artifact

from flows.status_grid import refresh_partition_grid
from revenue.stages import PartitionOutcome
from revenue.untrusted import markdown_text

if TYPE_CHECKING:
    from flows.partition import PartitionPlan

ProgressCallback = Callable[[int, int, PartitionOutcome], None]
"""``callback(done, total, outcome)``: called as each partition of a backfill finishes."""
PROGRESS_INTERVAL_S = 1.0

_terminal: ContextVar[ProgressCallback | None] = ContextVar("backfill_progress_listener", default=None)
"""The in-process caller's listener (a flow's parameters cannot carry a callable): read once,
when a backfill's ``RunProgress`` is made."""


@contextmanager
def progress_reported_to(callback: ProgressCallback) -> Iterator[None]:
    """Call ``callback(done, total, outcome)`` as the partitions of a backfill called inside
    the block finish (an in-process run: the terminal's progress bar). Scoped to the
    caller's context, so concurrent callers never see each other's progress."""
    token = _terminal.set(callback)
    try:
        yield
    finally:
        _terminal.reset(token)


class ThrottledProgress:
    """The ``backfill-progress`` artifact, updated at most once per ``interval_s`` and
    always at 100%: every update is a request and an event the server has to process."""

    def __init__(self, total: int, description: str, interval_s: float = PROGRESS_INTERVAL_S) -> None:
        self.total, self.interval_s = total, interval_s
        self.artifact_id = cast(
            UUID, create_progress_artifact(progress=0.0, key="backfill-progress", description=description)
        )
        self.last_update, self.shown = time.monotonic(), 0

    def update(self, done: int) -> None:
        now = time.monotonic()
        if done == self.shown:
            return
        if done >= self.total or now - self.last_update >= self.interval_s:
            update_progress_artifact(self.artifact_id, progress=100.0 * done / self.total)
            self.last_update, self.shown = now, done


class RunProgress:
    """One run's partitions from start to end: ``with RunProgress(...) as progress`` shows
    the days to compute running in the grid; ``progress.finished(outcome)`` counts a day as
    it ends; ``progress.settled(outcomes)`` (called by ``flows.fan_out.fan_out``, which
    fans the days out) records the run's final outcomes, so the grid drawn when the block
    ends does not fingerprint again the days the run left held at their planned input.
    ``backfill``: the ``backfill-progress`` artifact (made now) and the terminal's listener
    follow the count too."""

    def __init__(self, config: str, days: list[dt.date], plan: PartitionPlan, backfill: bool = False) -> None:
        self.config, self.days, self.plan = config, days, plan
        self.total, self.done = len(days), 0
        self.outcomes: list[PartitionOutcome] = []
        self.listener = _terminal.get() if backfill else None
        self.artifact = (
            ThrottledProgress(self.total, description=f"{self.total} partitions, {markdown_text(config)}")
            if backfill
            else None
        )

    def __enter__(self) -> RunProgress:
        refresh_partition_grid(
            self.config, self.days, running=[i.partition for i in self.plan.to_compute], known=self.plan.inputs
        )
        return self

    def finished(self, outcome: PartitionOutcome) -> None:
        """One more day done (a day computed again counts once more, never past the total)."""
        self.done = min(self.done + 1, self.total)
        if self.artifact is not None:
            self.artifact.update(self.done)
        if self.listener is not None:
            self.listener(self.done, self.total, outcome)

    def settled(self, outcomes: list[PartitionOutcome]) -> None:
        """The run's final outcomes, recorded for the grid drawn at the end."""
        self.outcomes = outcomes

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        refresh_partition_grid(self.config, self.days, known=self.plan.held_inputs(self.outcomes))
        if kind is None and self.artifact is not None:
            self.artifact.update(self.total)
