"""One Great Expectations suite per dataset, defined in Python and reviewed like code.

Each expectation carries a GX severity: ``critical`` stops the partition before anything is
published, ``warning`` lets it publish and is recorded. Values that change per partition (the
day's bounds, the expected revenue and order count) are GX suite parameters
(``{"$PARAMETER": name}``) resolved at validation time, so each suite is built once per process.

Suites:

- ``raw_orders`` (one row per extracted source row): the order columns exist; at least one row.
- ``cleaned_orders`` (one row per ``order_id``): at least one row (a day whose every source
  row was rejected publishes nothing); ids, amount and order_date not null;
  ``order_id`` unique; ``order_date`` inside the partition day ``[start, end)``;
  ``amount >= 0`` is a *warning* (refunds are negative and still publish).
- ``daily_revenue`` (one row per day): exactly one row; ``revenue`` within
  :data:`REVENUE_TOLERANCE` of the expected sum of cleaned amounts; ``order_count`` equal to
  the expected cleaned row count (neither null).

Nothing here imports ``great_expectations`` at module import time (the import costs ~3 s).
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from revenue.partitions import day_bounds

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuite

RAW_ORDERS = "raw_orders"
CLEANED_ORDERS = "cleaned_orders"
DAILY_REVENUE = "daily_revenue"
DATASETS: tuple[str, ...] = (RAW_ORDERS, CLEANED_ORDERS, DAILY_REVENUE)

ORDER_COLUMNS: tuple[str, ...] = ("order_id", "customer_id", "amount", "order_date")
"""Columns every extract of the orders source must carry (extra columns are allowed)."""

REVENUE_TOLERANCE = 0.005
"""Half a cent: ``daily_revenue.revenue`` is rounded to cents, the expected sum is not."""

# Parameters the caller passes to ``run_gate`` for ``daily_revenue``.
EXPECTED_REVENUE = "expected_revenue"
EXPECTED_ORDER_COUNT = "expected_order_count"



def reconciliation_parameters(cleaned: pd.DataFrame) -> dict[str, float | int]:
    """What the ``daily_revenue`` gate reconciles the day's row to: the sum of the cleaned
    amounts (to the cent) and the number of cleaned orders."""
    return {
        EXPECTED_REVENUE: round(float(cleaned["amount"].sum()), 2),
        EXPECTED_ORDER_COUNT: len(cleaned),
    }


# Suite parameters ($PARAMETER names) resolved at validation time.
DAY_START = "day_start"
DAY_END = "day_end"
EXPECTED_REVENUE_MIN = "expected_revenue_min"
EXPECTED_REVENUE_MAX = "expected_revenue_max"

NAME_META_KEY = "gate_name"
"""Expectation ``meta`` key holding the outcome's human-readable name."""


@dataclass(frozen=True)
class DatasetSpec:
    """How one dataset is validated.

    Attributes:
        name: the dataset name (``raw_orders`` ...).
        build: returns the list of GX expectations of the suite, in report order.
        range_checked_datetimes: datetime columns compared against bounds; they are cast to
            ``datetime64[ns, UTC]`` before validating (GX's range check is ~100x slower on
            pandas 3's default ``datetime64[us]``).
        required_parameters: keys ``run_gate`` must receive in ``parameters``.
    """

    name: str
    build: Callable[[], list[Any]]
    range_checked_datetimes: tuple[str, ...] = ()
    required_parameters: tuple[str, ...] = ()


def expectation_name(expectation_type: str, kwargs: Mapping[str, Any]) -> str:
    """A readable name: ``type(column)`` for column expectations, ``type(k=v, ...)`` otherwise."""
    if "column" in kwargs:
        return f"{expectation_type}({kwargs['column']})"
    shown = {k: v for k, v in kwargs.items() if k in ("min_value", "max_value", "value")}
    inner = ", ".join(f"{k}={v}" for k, v in shown.items())
    return f"{expectation_type}({inner})"


def _named(expectation: Any) -> Any:
    """Store the expectation's readable name in its ``meta`` so results carry it."""
    config = expectation.configuration
    name = expectation_name(config.type, config.kwargs)
    expectation.meta = {**(expectation.meta or {}), NAME_META_KEY: name}
    return expectation


def _param(name: str) -> dict[str, str]:
    return {"$PARAMETER": name}


def _raw_orders() -> list[Any]:
    import great_expectations.expectations as gxe

    return [
        *(gxe.ExpectColumnToExist(column=c, severity="critical") for c in ORDER_COLUMNS),
        gxe.ExpectTableRowCountToBeBetween(min_value=1, severity="critical"),
    ]


def _cleaned_orders() -> list[Any]:
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectTableRowCountToBeBetween(min_value=1, severity="critical"),
        gxe.ExpectColumnValuesToNotBeNull(column="order_id", severity="critical"),
        gxe.ExpectColumnValuesToNotBeNull(column="customer_id", severity="critical"),
        gxe.ExpectColumnValuesToNotBeNull(column="amount", severity="critical"),
        gxe.ExpectColumnValuesToNotBeNull(column="order_date", severity="critical"),
        gxe.ExpectColumnValuesToBeUnique(column="order_id", severity="critical"),
        gxe.ExpectColumnValuesToBeBetween(
            column="order_date",
            min_value=_param(DAY_START),
            max_value=_param(DAY_END),
            strict_max=True,
            severity="critical",
        ),
        gxe.ExpectColumnValuesToBeBetween(column="amount", min_value=0, severity="warning"),
    ]


def _daily_revenue() -> list[Any]:
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectTableRowCountToBeBetween(min_value=1, max_value=1, severity="critical"),
        gxe.ExpectColumnValuesToNotBeNull(column="revenue", severity="critical"),
        gxe.ExpectColumnValuesToBeBetween(
            column="revenue",
            min_value=_param(EXPECTED_REVENUE_MIN),
            max_value=_param(EXPECTED_REVENUE_MAX),
            severity="critical",
        ),
        gxe.ExpectColumnValuesToNotBeNull(column="order_count", severity="critical"),
        gxe.ExpectColumnValuesToBeBetween(
            column="order_count",
            min_value=_param(EXPECTED_ORDER_COUNT),
            max_value=_param(EXPECTED_ORDER_COUNT),
            severity="critical",
        ),
    ]


SPECS: dict[str, DatasetSpec] = {
    RAW_ORDERS: DatasetSpec(RAW_ORDERS, _raw_orders),
    CLEANED_ORDERS: DatasetSpec(CLEANED_ORDERS, _cleaned_orders, ("order_date",)),
    DAILY_REVENUE: DatasetSpec(
        DAILY_REVENUE, _daily_revenue, (), (EXPECTED_REVENUE, EXPECTED_ORDER_COUNT)
    ),
}

_SUITES: dict[str, ExpectationSuite] = {}
_SUITES_LOCK = threading.Lock()


def spec(dataset: str) -> DatasetSpec:
    """The dataset's spec.

    Raises:
        ValueError: for a dataset without a suite.
    """
    try:
        return SPECS[dataset]
    except (KeyError, TypeError):
        raise ValueError(
            f"no quality suite for dataset {dataset!r}: expected one of {', '.join(DATASETS)}"
        ) from None


def build_suite(dataset: str) -> ExpectationSuite:
    """The dataset's GX ``ExpectationSuite``, built once per process and shared.

    The suite is standalone (not saved in any context) and must be treated as read-only.

    Raises:
        ValueError: for a dataset without a suite.
    """
    dataset_spec = spec(dataset)
    suite = _SUITES.get(dataset)
    if suite is not None:
        return suite
    with _SUITES_LOCK:
        suite = _SUITES.get(dataset)
        if suite is None:
            import great_expectations as gx

            expectations = [_named(e) for e in dataset_spec.build()]
            suite = gx.ExpectationSuite(name=f"{dataset}_suite", expectations=expectations)
            _SUITES[dataset] = suite
        return suite


def suite_parameters(
    dataset: str, partition: dt.date, parameters: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The ``expectation_parameters`` for validating ``dataset`` on ``partition``.

    ``parameters`` are the caller's values; for ``daily_revenue`` they must hold
    ``expected_revenue`` (finite number) and ``expected_order_count`` (integer >= 0).

    Raises:
        ValueError: for an unknown dataset, or missing / invalid caller parameters.
    """
    dataset_spec = spec(dataset)
    given = dict(parameters or {})
    missing = [p for p in dataset_spec.required_parameters if given.get(p) is None]
    if missing:
        raise ValueError(
            f"{dataset} gate for {partition.isoformat()} needs parameter(s) {', '.join(missing)}"
        )
    resolved: dict[str, Any] = dict(given)
    if dataset == CLEANED_ORDERS:
        start, end = day_bounds(partition)
        resolved[DAY_START] = pd.Timestamp(start)
        resolved[DAY_END] = pd.Timestamp(end)
    elif dataset == DAILY_REVENUE:
        revenue = _finite_number(given[EXPECTED_REVENUE], EXPECTED_REVENUE, dataset)
        count = _count(given[EXPECTED_ORDER_COUNT], EXPECTED_ORDER_COUNT, dataset)
        resolved[EXPECTED_REVENUE] = revenue
        resolved[EXPECTED_REVENUE_MIN] = revenue - REVENUE_TOLERANCE
        resolved[EXPECTED_REVENUE_MAX] = revenue + REVENUE_TOLERANCE
        resolved[EXPECTED_ORDER_COUNT] = count
    return resolved


def _finite_number(value: Any, name: str, dataset: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{dataset} gate: {name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{dataset} gate: {name} must be finite, got {value!r}")
    return number


def _count(value: Any, name: str, dataset: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 0:
        raise ValueError(f"{dataset} gate: {name} must be an integer >= 0, got {value!r}")
    return int(value)


def prepare_frame(dataset: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The frame GX validates: ``frame`` itself, or a lazy copy with range-checked datetime
    columns cast to ``datetime64[ns, UTC]`` (tz-aware) / ``datetime64[ns]`` (naive).

    The caller's frame is never modified. Values outside the nanosecond range are left as they
    are (slower to check, still checked).
    """
    casts: dict[str, pd.Series] = {}
    for column in spec(dataset).range_checked_datetimes:
        if column not in frame.columns:
            continue
        values = frame[column]
        if not isinstance(values, pd.Series) or not pd.api.types.is_datetime64_any_dtype(values):
            continue
        tz = getattr(values.dtype, "tz", None)
        target = "datetime64[ns, UTC]" if tz is not None else "datetime64[ns]"
        if str(values.dtype) == target:
            continue
        try:
            if tz is not None:
                values = values.dt.tz_convert("UTC")
            casts[column] = values.astype(target)
        except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):
            continue
    return frame.assign(**casts) if casts else frame
