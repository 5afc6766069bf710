"""Quality layer: one Great Expectations suite per dataset, the gate that turns a validation
result into passed / warned / failed, and its markdown rendering.

Importing this package does not import ``great_expectations`` (it costs ~3 s); the first gate
that runs does.
"""

from revenue.quality.gate import (
    ExpectationOutcome,
    GateResult,
    GateStatus,
    QualityGateFailed,
    Severity,
    enforce,
    run_gate,
)
from revenue.quality.render import artifact_key, render_markdown
from revenue.quality.runtime import warm_up, warm_up_in_background
from revenue.quality.suites import DATASETS, build_suite

__all__ = [
    "DATASETS",
    "ExpectationOutcome",
    "GateResult",
    "GateStatus",
    "QualityGateFailed",
    "Severity",
    "artifact_key",
    "build_suite",
    "enforce",
    "render_markdown",
    "run_gate",
    "warm_up",
    "warm_up_in_background",
]
