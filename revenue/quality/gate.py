"""Quality gates: validate a dataset's frame for one partition and turn the GX result into
passed / warned / failed.

The status follows GX's own ``ExpectationSuiteValidationResult.get_max_severity_failure()``
(the highest severity among failed expectations, ``mostly`` already applied by GX), with one
stricter rule of ours: an expectation that *raised* fails the gate whatever its severity (a
check that could not run proves nothing).

- ``failed``: the highest failed severity is ``critical``, or any expectation raised. The
  partition must not publish.
- ``warned``: the highest failed severity is ``warning``. The partition publishes; the warning
  is recorded.
- ``passed``: nothing failed, or only ``info`` expectations (reported, they change nothing).

``run_gate`` never raises because data is bad; the caller decides, usually with ``enforce``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast, get_args

import pandas as pd

from revenue.errors import DataError
from revenue.partitions import parse_partition
from revenue.quality import suites
from revenue.statuses import GateStatus, Severity

_STATUS_OF_MAX_SEVERITY: dict[Severity | None, GateStatus] = {
    "critical": "failed",
    "warning": "warned",
    "info": "passed",
    None: "passed",
}
"""The gate status for GX's highest failed severity (None: nothing failed)."""

SAMPLE_SIZE = 5
_MESSAGE_LIMIT = 300


@dataclass(frozen=True)
class ExpectationOutcome:
    """What one expectation found.

    Attributes:
        expectation: readable name, e.g. ``expect_column_values_to_not_be_null(order_id)``.
        severity: ``critical``, ``warning`` or ``info``.
        success: False when the expectation failed or raised.
        raised: the exception message when the expectation raised, else None.
        unexpected_count: rows that broke a column expectation (None for table expectations
            and when it raised).
        unexpected_sample: up to 5 unexpected values, stringified.
        observed_value: the observed value of table-level expectations (e.g. the row count),
            stringified; None otherwise.
        expected: the accepted range of range expectations with suite parameters resolved,
            e.g. ``[2026-03-01T00:00:00+00:00, 2026-03-02T00:00:00+00:00)`` or ``>= 0``;
            None for other expectations.
    """

    expectation: str
    severity: Severity
    success: bool
    raised: str | None
    unexpected_count: int | None
    unexpected_sample: list[str]
    observed_value: str | None = None
    expected: str | None = None

    @property
    def status(self) -> Literal["passed", "failed", "raised"]:
        """``raised``, ``failed`` or ``passed``."""
        if self.raised is not None:
            return "raised"
        return "passed" if self.success else "failed"

    def describe_failure(self) -> str:
        """``name [severity, raised: msg]`` or ``name [severity, N unexpected, expected ...,
        e.g. a, b, c]`` (``observed X`` for table expectations)."""
        if self.raised is not None:
            return f"{self.expectation} [{self.severity}, raised: {self.raised}]"
        details: list[str] = [self.severity]
        if self.unexpected_count is not None:
            details.append(f"{self.unexpected_count} unexpected")
        if self.observed_value is not None:
            details.append(f"observed {self.observed_value}")
        if self.expected is not None:
            details.append(f"expected {self.expected}")
        if self.unexpected_sample:
            details.append("e.g. " + ", ".join(self.unexpected_sample[:3]))
        return f"{self.expectation} [{', '.join(details)}]"


@dataclass(frozen=True)
class GateResult:
    """The outcome of one dataset's gate on one partition, in suite order.

    Attributes:
        max_failure_severity: what GX's ``get_max_severity_failure()`` returned for the
            validation (None when no expectation failed).
    """

    dataset: str
    partition: dt.date
    outcomes: tuple[ExpectationOutcome, ...]
    max_failure_severity: Severity | None

    @property
    def status(self) -> GateStatus:
        """``failed`` if any expectation raised, else the status of GX's highest failed
        severity: ``critical`` fails, ``warning`` warns, ``info`` or nothing passes."""
        if any(o.raised is not None for o in self.outcomes):
            return "failed"
        return _STATUS_OF_MAX_SEVERITY[self.max_failure_severity]

    def failed(self, severity: Severity | None = None) -> list[ExpectationOutcome]:
        """Outcomes that failed or raised, optionally only those of ``severity``."""
        return [o for o in self.outcomes if not o.success and (severity is None or o.severity == severity)]

    def blocking(self) -> list[ExpectationOutcome]:
        """The outcomes that fail the gate: critical failures and anything that raised."""
        return [o for o in self.outcomes if not o.success and (o.severity == "critical" or o.raised is not None)]

    def summary(self) -> dict[str, Any]:
        """JSON-serialisable summary, e.g. for the partition ledger."""
        blocking = self.blocking()
        return {
            "dataset": self.dataset,
            "partition": self.partition.isoformat(),
            "status": self.status,
            "failed": [o.expectation for o in blocking],
            "warnings": [o.expectation for o in self.failed("warning") if o not in blocking],
            "evaluated": len(self.outcomes),
        }

    def failure_message(self, cause: str | None = None) -> str:
        """One line naming the dataset, the partition, the cause in plain words when the
        caller knows it (``0 of 204 rows valid: 204 null customer_id``) and the blocking
        expectations."""
        day = self.partition.isoformat()
        head = f"quality gate {self.status} for {self.dataset} partition {day}"
        if cause:
            head = f"{head}: {cause}"
        blocking = self.blocking()
        if not blocking:
            return f"{head}: no critical expectation failed"
        return f"{head}: " + "; ".join(o.describe_failure() for o in blocking)


class QualityGateFailed(DataError):
    """A gate failed; ``result`` holds every outcome and ``cause`` what the caller knows of
    why in plain words. ``str(exc) == result.failure_message(cause)``."""

    def __init__(self, result: GateResult, cause: str | None = None) -> None:
        super().__init__(result.failure_message(cause))
        self.result = result
        self.cause = cause

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions pickle their args by default; rebuild from the result instead.
        return (type(self), (self.result, self.cause))


def run_gate(
    dataset: str,
    frame: pd.DataFrame,
    partition: dt.date,
    parameters: Mapping[str, Any] | None = None,
) -> GateResult:
    """Validate ``frame`` with ``dataset``'s suite for ``partition``; never raises on bad data.

    Args:
        dataset: ``raw_orders``, ``cleaned_orders`` or ``daily_revenue``.
        frame: the dataset's rows for the partition (not modified).
        partition: the UTC day (a date, or ``YYYY-MM-DD``).
        parameters: the suite's reconciliation values (``suites.suite_parameters``).

    Raises:
        ValueError: unknown dataset, or missing / invalid parameters.
        TypeError: ``frame`` is not a DataFrame.
    """
    suites.spec(dataset)
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{dataset} gate needs a pandas DataFrame, got {type(frame).__name__}")
    day = parse_partition(partition)
    expectation_parameters = suites.suite_parameters(dataset, day, parameters)

    from revenue.quality.runtime import validate

    suite = suites.build_suite(dataset)
    validated = validate(suite, suites.prepare_frame(dataset, frame), expectation_parameters)
    order = {config.meta.get(suites.NAME_META_KEY): i for i, config in enumerate(suite.expectation_configurations)}
    outcomes = sorted(
        (_outcome(r) for r in validated.results),
        key=lambda o: order.get(o.expectation, len(order)),
    )
    max_failure = validated.get_max_severity_failure()
    return GateResult(
        dataset=dataset,
        partition=day,
        outcomes=tuple(outcomes),
        max_failure_severity=None if max_failure is None else _severity(max_failure.value),
    )


def enforce(result: GateResult, cause: str | None = None) -> GateResult:
    """Return ``result`` unless its status is ``failed``.

    Raises:
        QualityGateFailed: when the gate failed (with ``cause``, in plain words).
    """
    if result.status == "failed":
        raise QualityGateFailed(result, cause)
    return result


def _outcome(validation_result: Any) -> ExpectationOutcome:
    """Turn one GX ``ExpectationValidationResult`` into an ``ExpectationOutcome``."""
    config = validation_result.expectation_config
    name = (config.meta or {}).get(suites.NAME_META_KEY) or suites.expectation_name(config.type, config.kwargs)
    severity = _severity(getattr(config.severity, "value", config.severity) or "critical")
    raised = _raised_message(validation_result.exception_info)
    details = validation_result.result or {}
    count = details.get("unexpected_count")
    sample = details.get("partial_unexpected_list") or []
    observed = details.get("observed_value")
    is_column_expectation = "column" in config.kwargs
    return ExpectationOutcome(
        expectation=name,
        severity=severity,
        success=bool(validation_result.success) and raised is None,
        raised=raised,
        unexpected_count=None if count is None or raised else int(count),
        unexpected_sample=[_stringify(v) for v in sample[:SAMPLE_SIZE]],
        observed_value=None if observed is None or raised or is_column_expectation else _stringify(observed),
        expected=_expected_range(config.kwargs),
    )


def _severity(value: object) -> Severity:
    """``value`` as a ``Severity``.

    Raises:
        ValueError: GX reported a severity this module does not know.
    """
    for severity in get_args(Severity):
        if value == severity:
            return cast(Severity, severity)
    raise ValueError(f"unknown GX expectation severity {value!r}")


def _expected_range(kwargs: Mapping[str, Any]) -> str | None:
    """``[lo, hi]`` / ``[lo, hi)`` / ``>= lo`` / ``< hi`` from resolved range kwargs."""
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if isinstance(low, Mapping) or isinstance(high, Mapping):  # unresolved $PARAMETER
        return None
    strict_min, strict_max = bool(kwargs.get("strict_min")), bool(kwargs.get("strict_max"))
    if low is not None and high is not None:
        if low == high and not (strict_min or strict_max):
            return f"= {_stringify(low)}"
        return f"{'(' if strict_min else '['}{_stringify(low)}, {_stringify(high)}{')' if strict_max else ']'}"
    if low is not None:
        return f"{'>' if strict_min else '>='} {_stringify(low)}"
    if high is not None:
        return f"{'<' if strict_max else '<='} {_stringify(high)}"
    return None


def _raised_message(exception_info: Any) -> str | None:
    """The exception message if the expectation raised, else None.

    GX reports either one ``{"raised_exception", "exception_message", ...}`` dict or a dict of
    them keyed by metric.
    """
    if not isinstance(exception_info, Mapping):
        return None
    infos = [exception_info] if "raised_exception" in exception_info else list(exception_info.values())
    messages = [
        " ".join(str(info.get("exception_message") or "exception raised").split())
        for info in infos
        if isinstance(info, Mapping) and info.get("raised_exception")
    ]
    if not messages:
        return None
    message = "; ".join(dict.fromkeys(messages))
    return message if len(message) <= _MESSAGE_LIMIT else message[: _MESSAGE_LIMIT - 1] + "…"


def _stringify(value: Any) -> str:
    """Readable text for a sample value: ISO timestamps, floats without binary noise, ``null``."""
    if value is None or value is pd.NA or value is pd.NaT:
        return "null"
    if isinstance(value, dt.date):  # also datetime and pd.Timestamp
        return value.isoformat()
    if isinstance(value, float):
        return "null" if value != value else repr(round(value, 9))
    return str(value)
