"""One Great Expectations suite per dataset, defined in Python and reviewed like code.

Each expectation carries a GX severity: ``critical`` stops the partition before anything is
published, ``warning`` lets it publish and is recorded. Values that change per partition (the
day's bounds, the expected revenue and order count) are GX suite parameters
(``{"$PARAMETER": name}``) resolved at validation time, so each suite is built once per process.

Suites:

- ``raw_orders`` (one row per extracted source or landed row): the order columns exist; at
  least one row.
- ``cleaned_orders`` (one row per ``order_id``): at least one row (a day whose every row was
  rejected publishes nothing); as many rows as the raw rows minus the rejected ones (nothing
  lost between the two); ids, amount and order_date not null; ``order_id`` unique;
  ``order_date`` inside the partition day ``[start, end)``; ``amount_cents >= 0`` for at
  least 95% of the rows is a *warning*: refunds are negative and normal, a day with more of
  them than ``REFUND_SHARE_WARNING`` publishes with a recorded warning.
- ``daily_revenue`` (one row per day): exactly one row; ``revenue_cents`` equal to the sum of
  the day's ``customer_daily_spend`` (the two published tables agree to the cent);
  ``order_count`` equal to the cleaned row count and to the customers' order counts.

Each reconciliation compares two independent paths, never a formula with itself.

Nothing here imports ``great_expectations`` at module import time (the import costs ~3 s).
"""

from __future__ import annotations

import datetime as dt
import numbers
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from revenue import catalog
from revenue.contract import REQUIRED_COLUMNS
from revenue.partitions import day_bounds

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuite

RAW_ORDERS = catalog.RAW_ORDERS.name
CLEANED_ORDERS = catalog.CLEANED_ORDERS.name
DAILY_REVENUE = catalog.DAILY_REVENUE.name
DATASETS: tuple[str, ...] = catalog.GATED
"""The datasets a suite judges, and each suite's name, come from the catalog (``suite``);
the suites' expectations are here (``SPECS``)."""


REFUND_SHARE_WARNING = 0.05
"""Refunds (negative amounts) are normal: the cleaned_orders gate warns only when more than
this share of a day's orders are refunds (GX's ``mostly``)."""

# Parameters the caller passes to ``run_gate``.
EXPECTED_ROWS = "expected_rows"
MIN_ROWS = "min_rows"
EXPECTED_REVENUE_CENTS = "expected_revenue_cents"
EXPECTED_ORDER_COUNT = "expected_order_count"
EXPECTED_CUSTOMER_ORDERS = "expected_customer_orders"


def cleaned_parameters(raw_rows: int, rejected_rows: int, all_counted_elsewhere: bool = False) -> dict[str, int]:
    """What the ``cleaned_orders`` gate reconciles to: raw rows minus rejected rows; and
    the fewest rows it accepts: one, or none when every order of the day counts on another
    day (a day whose orders all moved away publishes zero, it is not a failed day)."""
    return {EXPECTED_ROWS: raw_rows - rejected_rows, MIN_ROWS: 0 if all_counted_elsewhere else 1}


def reconciliation_parameters(cleaned: pd.DataFrame, spend: pd.DataFrame) -> dict[str, int]:
    """What the ``daily_revenue`` gate reconciles the day's row to: the customers' spend
    summed (the other published table), the cleaned rows and the customers' order counts."""
    from revenue.contract import sum_cents

    return {
        EXPECTED_REVENUE_CENTS: sum_cents(spend["daily_spend_cents"]),
        EXPECTED_ORDER_COUNT: len(cleaned),
        EXPECTED_CUSTOMER_ORDERS: int(spend["order_count"].sum()),
    }


# Suite parameters ($PARAMETER names) resolved at validation time.
DAY_START = "day_start"
DAY_END = "day_end"

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
    inner = ", ".join(f"{k}={_shown_value(v)}" for k, v in shown.items())
    return f"{expectation_type}({inner})"


SHOWN_AS: dict[str, str] = {MIN_ROWS: "1"}
"""Parameters named by their usual value: ``min_rows`` is 1 unless every order of the day
counts on another day (the gate then passes with 0 rows, and says ``expected >= 0``)."""


def _shown_value(value: Any) -> str:
    if isinstance(value, Mapping) and "$PARAMETER" in value:
        return SHOWN_AS.get(value["$PARAMETER"], f"${value['$PARAMETER']}")
    return f"{value}"


def _named(expectation: Any) -> Any:
    """Store the expectation's readable name in its ``meta`` so results carry it; a
    reconciliation names what it reconciles to."""
    config = expectation.configuration
    name = expectation_name(config.type, config.kwargs)
    reconciles_to = (expectation.meta or {}).get("reconciles_to")
    if reconciles_to:
        name = f"{name[:-1]} = {reconciles_to})"
    expectation.meta = {**(expectation.meta or {}), NAME_META_KEY: name}
    return expectation


def _param(name: str) -> dict[str, str]:
    return {"$PARAMETER": name}


def _raw_orders() -> list[Any]:
    import great_expectations.expectations as gxe
    from great_expectations.expectations.metadata_types import FailureSeverity

    return [
        *(gxe.ExpectColumnToExist(column=c, severity=FailureSeverity.CRITICAL) for c in REQUIRED_COLUMNS),
        gxe.ExpectTableRowCountToBeBetween(min_value=_param(MIN_ROWS), severity=FailureSeverity.CRITICAL),
    ]


def _cleaned_orders() -> list[Any]:
    import great_expectations.expectations as gxe
    from great_expectations.expectations.metadata_types import FailureSeverity

    return [
        gxe.ExpectTableRowCountToBeBetween(min_value=_param(MIN_ROWS), severity=FailureSeverity.CRITICAL),
        gxe.ExpectTableRowCountToEqual(value=_param(EXPECTED_ROWS), severity=FailureSeverity.CRITICAL),
        gxe.ExpectColumnValuesToNotBeNull(column="order_id", severity=FailureSeverity.CRITICAL),
        gxe.ExpectColumnValuesToNotBeNull(column="customer_id", severity=FailureSeverity.CRITICAL),
        gxe.ExpectColumnValuesToNotBeNull(column="amount_cents", severity=FailureSeverity.CRITICAL),
        gxe.ExpectColumnValuesToNotBeNull(column="order_date", severity=FailureSeverity.CRITICAL),
        gxe.ExpectColumnValuesToBeUnique(column="order_id", severity=FailureSeverity.CRITICAL),
        gxe.ExpectColumnValuesToBeBetween(
            column="order_date",
            min_value=_param(DAY_START),
            max_value=_param(DAY_END),
            strict_max=True,
            severity=FailureSeverity.CRITICAL,
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="amount_cents", min_value=0, mostly=1 - REFUND_SHARE_WARNING, severity=FailureSeverity.WARNING
        ),
    ]


def _equals(column: str, parameter: str, reconciles_to: str) -> Any:
    """``column`` equals the suite parameter that an independent path computed."""
    import great_expectations.expectations as gxe
    from great_expectations.expectations.metadata_types import FailureSeverity

    return gxe.ExpectColumnValuesToBeBetween(
        column=column,
        min_value=_param(parameter),
        max_value=_param(parameter),
        severity=FailureSeverity.CRITICAL,
        meta={"reconciles_to": reconciles_to},
    )


def _daily_revenue() -> list[Any]:
    import great_expectations.expectations as gxe
    from great_expectations.expectations.metadata_types import FailureSeverity

    return [
        gxe.ExpectTableRowCountToBeBetween(min_value=1, max_value=1, severity=FailureSeverity.CRITICAL),
        gxe.ExpectColumnValuesToNotBeNull(column="revenue_cents", severity=FailureSeverity.CRITICAL),
        _equals("revenue_cents", EXPECTED_REVENUE_CENTS, catalog.CUSTOMER_DAILY_SPEND.name),
        gxe.ExpectColumnValuesToNotBeNull(column="order_count", severity=FailureSeverity.CRITICAL),
        _equals("order_count", EXPECTED_ORDER_COUNT, CLEANED_ORDERS),
        _equals("order_count", EXPECTED_CUSTOMER_ORDERS, catalog.CUSTOMER_DAILY_SPEND.name),
    ]


SPECS: dict[str, DatasetSpec] = {
    RAW_ORDERS: DatasetSpec(RAW_ORDERS, _raw_orders),
    CLEANED_ORDERS: DatasetSpec(CLEANED_ORDERS, _cleaned_orders, ("order_date",), (EXPECTED_ROWS,)),
    DAILY_REVENUE: DatasetSpec(
        DAILY_REVENUE, _daily_revenue, (), (EXPECTED_REVENUE_CENTS, EXPECTED_ORDER_COUNT, EXPECTED_CUSTOMER_ORDERS)
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
        if dataset not in DATASETS:
            raise KeyError(dataset)
        return SPECS[dataset]
    except (KeyError, TypeError):
        raise ValueError(f"no quality suite for dataset {dataset!r}: expected one of {', '.join(DATASETS)}") from None


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
            suite = gx.ExpectationSuite(name=catalog.dataset(dataset).suite, expectations=expectations)
            _SUITES[dataset] = suite
        return suite


def suite_parameters(dataset: str, partition: dt.date, parameters: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``expectation_parameters`` for validating ``dataset`` on ``partition``.

    ``parameters`` are the caller's values, each a whole number >= 0 except
    ``expected_revenue_cents`` (any whole number): ``raw_orders`` takes ``min_rows``
    (default 1; 0 for a day whose published orders all moved to other days);
    ``cleaned_orders`` needs ``expected_rows`` (and takes ``min_rows``); ``daily_revenue``
    needs ``expected_revenue_cents``, ``expected_order_count`` and ``expected_customer_orders``.

    Raises:
        ValueError: for an unknown dataset, or missing / invalid caller parameters.
    """
    dataset_spec = spec(dataset)
    given = dict(parameters or {})
    if dataset in (RAW_ORDERS, CLEANED_ORDERS):
        given[MIN_ROWS] = _whole(given.get(MIN_ROWS, 1), MIN_ROWS, dataset, negative=False)
    missing = [p for p in dataset_spec.required_parameters if given.get(p) is None]
    if missing:
        raise ValueError(f"{dataset} gate for {partition.isoformat()} needs parameter(s) {', '.join(missing)}")
    resolved: dict[str, Any] = dict(given)
    for name in dataset_spec.required_parameters:
        resolved[name] = _whole(given[name], name, dataset, negative=name == EXPECTED_REVENUE_CENTS)
    if dataset == CLEANED_ORDERS:
        start, end = day_bounds(partition)
        resolved[DAY_START] = pd.Timestamp(start)
        resolved[DAY_END] = pd.Timestamp(end)
    return resolved


def _whole(value: Any, name: str, dataset: str, negative: bool) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or (int(value) < 0 and not negative):
        kind = "a whole number" if negative else "a whole number >= 0"
        raise ValueError(f"{dataset} gate: {name} must be {kind}, got {value!r}")
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
