"""The status values the pipeline records and reports, for the statuses more than one layer
shares (a gate's outcome is decided by ``revenue.quality`` and kept by the warehouse's
ledger, which may not import it). A status one module owns alone is declared beside it:
a landed file's read status (``revenue.io.landing.versions.ReadStatus``), a partition's
state in the grid (``revenue.status.State``), a partition run's outcome
(``revenue.stages.Outcome``), a chunk run's state (``flows.backfill_runs.ChunkRunState``).
"""

from __future__ import annotations

from typing import Literal

Severity = Literal["critical", "warning", "info"]
"""GX's ``FailureSeverity`` values: what a failed expectation costs."""

GateStatus = Literal["passed", "warned", "failed"]
"""A quality gate's outcome: a critical failure fails it, a warning warns."""

LedgerStatus = Literal["materialized", "warned", "failed"]
"""A dataset's row in the partition ledger: published (with or without a warning) or a
failed attempt."""

Attempt = Literal["published", "failed"]
"""Which attempt of a partition a ``rejected_orders`` row belongs to: its published version
or its latest failed attempt."""
