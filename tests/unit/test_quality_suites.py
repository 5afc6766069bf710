"""Quality suites and gates on small DataFrames built here (no Prefect).

For each suite: a good frame passes, and each expectation has a frame that breaks it with the
right severity. GX is imported once per test process (the runtime is cached), so the first
test that validates pays the ~3-5 s import.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import pickle
import subprocess
import sys
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from revenue.quality import (
    DATASETS,
    GateResult,
    QualityGateFailed,
    build_suite,
    enforce,
    run_gate,
    suites,
    warm_up,
)

DAY = dt.date(2026, 3, 1)
START = pd.Timestamp("2026-03-01T00:00:00", tz="UTC")
END = pd.Timestamp("2026-03-02T00:00:00", tz="UTC")

NOT_NULL = "expect_column_values_to_not_be_null({})"
IN_DAY = "expect_column_values_to_be_between(order_date)"
NON_NEGATIVE = "expect_column_values_to_be_between(amount_cents)"
UNIQUE = "expect_column_values_to_be_unique(order_id)"
ROW_COUNT_MIN_1 = "expect_table_row_count_to_be_between(min_value=1)"
ROWS_RECONCILE = "expect_table_row_count_to_equal(value=$expected_rows)"
ONE_ROW = "expect_table_row_count_to_be_between(min_value=1, max_value=1)"
REVENUE_MATCHES = "expect_column_values_to_be_between(revenue_cents = customer_daily_spend)"
COUNT_MATCHES = "expect_column_values_to_be_between(order_count = cleaned_orders)"
CUSTOMER_COUNT_MATCHES = "expect_column_values_to_be_between(order_count = customer_daily_spend)"


def raw_orders() -> pd.DataFrame:
    """As extracted: text ids, amounts as text with garbage, timestamps as text, extra column."""
    return pd.DataFrame(
        {
            "order_id": pd.Series(["1", "2", None, "4"], dtype="object"),
            "customer_id": [10, 11, 12, None],
            "amount": pd.Series(["12.50", "abc", "-3", None], dtype="object"),
            "order_date": ["2026-03-01T08:00:00Z", "not a date", None, "2026-03-01T09:00:00Z"],
            "channel": ["web", "app", "web", "store"],
        }
    )


def cleaned_orders(n: int = 4) -> pd.DataFrame:
    """Typed as ``clean_orders`` makes it (int64 ids and cents; a ``datetime64[us, UTC]``
    order_date, as pandas 3 makes by default)."""
    offsets = pd.to_timedelta(np.linspace(0, 86_399_999_999, n).astype("int64"), unit="us")
    frame = pd.DataFrame(
        {
            "order_id": pd.Series(np.arange(n, dtype="int64") + 1000),
            "customer_id": pd.Series([f"c-{i % 3}" for i in range(n)], dtype="str"),
            "amount_cents": pd.Series(np.arange(n, dtype="int64") * 100 + 25),
            "order_date": pd.Series(START + offsets).astype("datetime64[us, UTC]"),
            "channel": pd.Series(["web"] * n, dtype="str"),
        }
    )
    return frame


def daily_revenue(revenue_cents: int = 1000, order_count: int = 4) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "order_date": [DAY],
            "revenue_cents": pd.Series([revenue_cents], dtype="int64"),
            "order_count": pd.Series([order_count], dtype="int64"),
        }
    )


def expected(revenue_cents: int = 1000, order_count: int = 4, customer_orders: int | None = None) -> dict[str, object]:
    """What the two independent paths say: the customers' spend and the cleaned rows."""
    return {
        "expected_revenue_cents": revenue_cents,
        "expected_order_count": order_count,
        "expected_customer_orders": order_count if customer_orders is None else customer_orders,
    }


def gate_cleaned(frame: pd.DataFrame, day: dt.date | str = DAY, rows: int | None = None) -> GateResult:
    """The cleaned_orders gate, told the frame holds every row raw minus rejected leaves."""
    return run_gate("cleaned_orders", frame, day, {"expected_rows": len(frame) if rows is None else rows})


def outcome(result: GateResult, name: str):
    matches = [o for o in result.outcomes if o.expectation == name]
    assert len(matches) == 1, [o.expectation for o in result.outcomes]
    return matches[0]


def failed_names(result: GateResult) -> list[str]:
    return [o.expectation for o in result.failed()]


@pytest.fixture(scope="session", autouse=True)
def gx_runtime():
    """Build the process's GX context and suites once for the whole session."""
    warm_up()


# ---------------------------------------------------------------------------------------------
# suites


def test_each_suite_is_built_once_and_carries_severities():
    for dataset in DATASETS:
        suite = build_suite(dataset)
        assert build_suite(dataset) is suite
        severities = {str(getattr(e.severity, "value", e.severity)) for e in suite.expectations}
        assert severities <= {"critical", "warning"}
    cleaned = build_suite("cleaned_orders").expectations
    warnings = [e for e in cleaned if getattr(e.severity, "value", e.severity) == "warning"]
    assert [(w.expectation_type, w.column) for w in warnings] == [
        ("expect_column_values_to_be_between", "amount_cents")
    ]


def test_daily_revenue_suite_uses_parameters_not_literals():
    kwargs = [c.kwargs for c in build_suite("daily_revenue").expectation_configurations]
    revenue = next(k for k in kwargs if k.get("column") == "revenue_cents" and "min_value" in k)
    assert revenue["min_value"] == revenue["max_value"] == {"$PARAMETER": "expected_revenue_cents"}


def test_unknown_dataset_is_a_value_error():
    with pytest.raises(ValueError, match="orders_v2"):
        run_gate("orders_v2", cleaned_orders(), DAY)
    with pytest.raises(ValueError, match="orders_v2"):
        build_suite("orders_v2")


def test_frame_must_be_a_dataframe():
    with pytest.raises(TypeError):
        run_gate("raw_orders", [{"order_id": 1}], DAY)  # type: ignore[arg-type]


def test_importing_the_quality_package_does_not_import_great_expectations():
    code = "import sys, revenue.quality; print('great_expectations' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------------------------------------
# raw_orders


def test_raw_orders_as_extracted_passes():
    result = run_gate("raw_orders", raw_orders(), DAY)
    assert result.status == "passed", result.failure_message()
    assert result.dataset == "raw_orders" and result.partition == DAY
    assert len(result.outcomes) == 5 and all(o.success for o in result.outcomes)


@pytest.mark.parametrize("column", ["order_id", "customer_id", "amount", "order_date"])
def test_raw_orders_missing_column_fails(column):
    result = run_gate("raw_orders", raw_orders().drop(columns=column), DAY)
    assert result.status == "failed"
    assert failed_names(result) == [f"expect_column_to_exist({column})"]
    assert result.failed("critical") == result.failed()


def test_raw_orders_empty_fails_critically():
    result = run_gate("raw_orders", raw_orders().head(0), DAY)
    assert result.status == "failed"
    empty = outcome(result, ROW_COUNT_MIN_1)
    assert (empty.success, empty.severity, empty.observed_value) == (False, "critical", "0")
    assert failed_names(result) == [ROW_COUNT_MIN_1]


# ---------------------------------------------------------------------------------------------
# cleaned_orders


def test_cleaned_orders_good_frame_passes_and_is_not_modified():
    frame = cleaned_orders(50)
    before = frame.copy()
    result = gate_cleaned(frame)
    assert result.status == "passed", result.failure_message()
    assert len(result.outcomes) == 9
    pd.testing.assert_frame_equal(frame, before)
    assert str(frame["order_date"].dtype) == "datetime64[us, UTC]"


def test_cleaned_orders_with_no_rows_fails_critically():
    """A day whose every source row was quarantined must not publish a zero revenue."""
    result = gate_cleaned(cleaned_orders().iloc[0:0], DAY)
    assert result.status == "failed"
    assert [o.severity for o in result.failed()] == ["critical"]
    assert "expect_table_row_count_to_be_between" in result.failure_message()


def test_cleaned_orders_must_hold_raw_rows_minus_rejected_rows():
    """A row lost between extract and publish (neither cleaned nor quarantined) fails."""
    result = gate_cleaned(cleaned_orders(4), rows=5)
    assert result.status == "failed"
    assert failed_names(result) == [ROWS_RECONCILE]
    assert outcome(result, ROWS_RECONCILE).observed_value == "4"


@pytest.mark.parametrize("column", ["order_id", "customer_id", "amount_cents", "order_date"])
def test_cleaned_orders_null_fails_critically(column):
    frame = cleaned_orders()
    frame.loc[2, column] = None
    result = gate_cleaned(frame)
    assert result.status == "failed"
    assert failed_names(result) == [NOT_NULL.format(column)]
    null = outcome(result, NOT_NULL.format(column))
    assert null.severity == "critical"
    assert (null.unexpected_count, null.unexpected_sample) == (1, ["null"])


def test_cleaned_orders_duplicate_order_id_fails_critically():
    frame = cleaned_orders()
    frame.loc[3, "order_id"] = 1001
    result = gate_cleaned(frame)
    assert result.status == "failed"
    assert failed_names(result) == [UNIQUE]
    duplicate = outcome(result, UNIQUE)
    assert duplicate.unexpected_count == 2
    assert duplicate.unexpected_sample == ["1001", "1001"]


@pytest.mark.parametrize(
    ("order_date", "inside"),
    [
        (START, True),
        (END - pd.Timedelta(microseconds=1), True),
        (END, False),
        (START - pd.Timedelta(seconds=1), False),
        (END + pd.Timedelta(days=30), False),
    ],
    ids=["start-of-day", "last-microsecond", "next-midnight", "previous-day", "next-month"],
)
def test_cleaned_orders_order_date_must_be_inside_the_partition_day(order_date, inside):
    frame = cleaned_orders()
    frame.loc[1, "order_date"] = order_date
    result = gate_cleaned(frame)
    in_day = outcome(result, IN_DAY)
    assert in_day.success is inside
    assert result.status == ("passed" if inside else "failed")
    if not inside:
        assert in_day.severity == "critical"
        assert in_day.unexpected_count == 1
        assert in_day.unexpected_sample == [order_date.isoformat()]
        assert in_day.expected == f"[{START.isoformat()}, {END.isoformat()})"


def test_cleaned_orders_day_bounds_follow_the_partition():
    frame = cleaned_orders()
    assert gate_cleaned(frame).status == "passed"
    next_day = gate_cleaned(frame, DAY + dt.timedelta(days=1))
    assert next_day.partition == DAY + dt.timedelta(days=1)
    assert outcome(next_day, IN_DAY).unexpected_count == len(frame)


def test_cleaned_orders_nanosecond_timestamps_pass():
    frame = cleaned_orders()
    frame["order_date"] = frame["order_date"].astype("datetime64[ns, UTC]")
    assert gate_cleaned(frame).status == "passed"


def test_negative_amount_only_warns():
    frame = cleaned_orders()
    frame.loc[0, "amount_cents"] = -550
    result = gate_cleaned(frame)
    assert result.status == "warned"
    assert result.failed("critical") == []
    refund = outcome(result, NON_NEGATIVE)
    assert (refund.severity, refund.success, refund.unexpected_count) == ("warning", False, 1)
    assert refund.unexpected_sample == ["-550"]
    assert enforce(result) is result
    assert result.summary()["warnings"] == [NON_NEGATIVE]
    assert result.summary()["failed"] == []


_USUAL_REFUNDS = round(100 * suites.REFUND_SHARE_WARNING)


@pytest.mark.parametrize(
    ("refunds", "status"), [(0, "passed"), (_USUAL_REFUNDS, "passed"), (_USUAL_REFUNDS + 1, "warned")]
)
def test_refunds_warn_only_past_their_usual_share(refunds: int, status: str):
    """Refunds are normal: up to REFUND_SHARE_WARNING of a day's orders is a plain day."""
    frame = cleaned_orders(100)
    frame.iloc[:refunds, frame.columns.get_loc("amount_cents")] = -100
    result = gate_cleaned(frame)
    assert result.status == status
    assert outcome(result, NON_NEGATIVE).unexpected_count == refunds


def test_warning_and_critical_together_fail():
    frame = cleaned_orders()
    frame.loc[0, "amount_cents"] = -100
    frame.loc[1, "customer_id"] = None
    result = gate_cleaned(frame)
    assert result.status == "failed"
    assert result.summary()["failed"] == [NOT_NULL.format("customer_id")]
    assert result.summary()["warnings"] == [NON_NEGATIVE]


@pytest.mark.parametrize(
    ("gx_says", "status"), [("critical", "failed"), ("warning", "warned"), ("info", "passed"), (None, "passed")]
)
def test_status_is_gx_max_severity_failure(monkeypatch, gx_says, status):
    """The gate takes the highest failed severity from GX's own result method rather than
    recomputing it (here GX is made to report a severity for a clean frame)."""
    from great_expectations.core import ExpectationSuiteValidationResult
    from great_expectations.expectations.metadata_types import FailureSeverity

    reported = None if gx_says is None else FailureSeverity(gx_says)
    monkeypatch.setattr(ExpectationSuiteValidationResult, "get_max_severity_failure", lambda self: reported)
    result = gate_cleaned(cleaned_orders())
    assert (result.max_failure_severity, result.status) == (gx_says, status)


@pytest.mark.parametrize(
    ("mutate", "severity"),
    [
        (lambda f: f, None),
        (lambda f: f.assign(amount_cents=-f["amount_cents"]), "warning"),
        (lambda f: f.assign(customer_id=None), "critical"),
    ],
    ids=["clean", "refunds", "null-customers"],
)
def test_gate_records_gx_max_severity_failure(mutate, severity):
    assert gate_cleaned(mutate(cleaned_orders())).max_failure_severity == severity


@pytest.mark.parametrize(
    ("mutate", "raising"),
    [
        # the amount check is a *warning*, but a check that cannot run fails the gate
        (lambda f: f.assign(amount_cents=f["amount_cents"].astype("str")), NON_NEGATIVE),
        (lambda f: f.assign(order_date=f["order_date"].dt.tz_localize(None)), IN_DAY),
        (lambda f: f.drop(columns="customer_id"), NOT_NULL.format("customer_id")),
    ],
    ids=["amount-as-text", "naive-order-date", "missing-column"],
)
def test_an_expectation_that_raises_fails_the_gate(mutate, raising):
    result = gate_cleaned(mutate(cleaned_orders()), DAY)
    assert result.status == "failed"
    broken = outcome(result, raising)
    assert broken.raised and not broken.success
    assert broken.unexpected_count is None
    assert [o.expectation for o in result.outcomes if o.raised] == [raising]
    assert raising in result.summary()["failed"]
    assert "raised" in result.failure_message()


def test_prepare_frame_casts_a_copy_to_nanoseconds():
    frame = cleaned_orders()
    prepared = suites.prepare_frame("cleaned_orders", frame)
    assert str(prepared["order_date"].dtype) == "datetime64[ns, UTC]"
    assert str(frame["order_date"].dtype) == "datetime64[us, UTC]"
    assert (prepared["order_date"] == frame["order_date"]).all()
    assert suites.prepare_frame("raw_orders", frame) is frame


# ---------------------------------------------------------------------------------------------
# daily_revenue


def test_daily_revenue_matching_the_customers_spend_and_the_cleaned_rows_passes():
    result = run_gate("daily_revenue", daily_revenue(1234, 7), DAY, expected(1234, 7))
    assert result.status == "passed", result.failure_message()
    assert len(result.outcomes) == 6


def test_daily_revenue_with_datetime_order_date_passes():
    frame = daily_revenue().assign(order_date=pd.Series([START]).astype("datetime64[us, UTC]"))
    assert run_gate("daily_revenue", frame, DAY, expected()).status == "passed"


@pytest.mark.parametrize(("revenue_cents", "passes"), [(1000, True), (1001, False), (999, False), (0, False)])
def test_daily_revenue_must_equal_the_customers_spend_to_the_cent(revenue_cents, passes):
    result = run_gate("daily_revenue", daily_revenue(revenue_cents), DAY, expected(1000))
    assert outcome(result, REVENUE_MATCHES).success is passes
    assert result.status == ("passed" if passes else "failed")
    if not passes:
        assert failed_names(result) == [REVENUE_MATCHES]
        assert outcome(result, REVENUE_MATCHES).unexpected_sample == [str(revenue_cents)]


def test_daily_revenue_order_count_must_match_both_the_cleaned_rows_and_the_customers():
    result = run_gate("daily_revenue", daily_revenue(order_count=3), DAY, expected(order_count=4, customer_orders=3))
    assert failed_names(result) == [COUNT_MATCHES]
    assert outcome(result, COUNT_MATCHES).unexpected_sample == ["3"]
    result = run_gate("daily_revenue", daily_revenue(order_count=4), DAY, expected(order_count=4, customer_orders=3))
    assert failed_names(result) == [CUSTOMER_COUNT_MATCHES]


@pytest.mark.parametrize("rows", [0, 2])
def test_daily_revenue_needs_exactly_one_row(rows):
    frame = pd.concat([daily_revenue()] * 2, ignore_index=True).head(rows)
    result = run_gate("daily_revenue", frame, DAY, expected())
    assert result.status == "failed"
    assert failed_names(result) == [ONE_ROW]
    assert outcome(result, ONE_ROW).observed_value == str(rows)


def test_daily_revenue_null_revenue_fails():
    frame = daily_revenue().assign(revenue_cents=pd.Series([None], dtype="Int64"))
    result = run_gate("daily_revenue", frame, DAY, expected())
    assert result.status == "failed"
    assert NOT_NULL.format("revenue_cents") in failed_names(result)


@pytest.mark.parametrize(
    "parameters",
    [
        None,
        {"expected_revenue_cents": 1000},
        {"expected_order_count": 4, "expected_customer_orders": 4},
        {"expected_revenue_cents": float("nan"), "expected_order_count": 4, "expected_customer_orders": 4},
        {"expected_revenue_cents": "1000", "expected_order_count": 4, "expected_customer_orders": 4},
        {"expected_revenue_cents": 10.0, "expected_order_count": 4, "expected_customer_orders": 4},
        {"expected_revenue_cents": 1000, "expected_order_count": -1, "expected_customer_orders": 4},
        {"expected_revenue_cents": 1000, "expected_order_count": 4.5, "expected_customer_orders": 4},
    ],
)
def test_daily_revenue_needs_valid_expected_values(parameters):
    with pytest.raises(ValueError, match="daily_revenue"):
        run_gate("daily_revenue", daily_revenue(), DAY, parameters)


def test_daily_revenue_accepts_numpy_expected_values():
    parameters = {
        "expected_revenue_cents": np.int64(1000),
        "expected_order_count": np.int64(4),
        "expected_customer_orders": np.int64(4),
    }
    assert run_gate("daily_revenue", daily_revenue(), DAY, parameters).status == "passed"


def test_refunds_may_make_revenue_negative():
    assert run_gate("daily_revenue", daily_revenue(-250), DAY, expected(-250)).status == "passed"


# ---------------------------------------------------------------------------------------------
# results, messages, enforcement


def test_failure_message_names_dataset_partition_and_expectations():
    frame = cleaned_orders()
    frame.loc[3, "order_id"] = 1001
    frame.loc[0, "amount_cents"] = -100
    result = gate_cleaned(frame)
    message = result.failure_message()
    assert "cleaned_orders" in message and "2026-03-01" in message
    assert f"{UNIQUE} [critical, 2 unexpected" in message
    assert NON_NEGATIVE not in message  # a warning does not fail the gate
    assert "\n" not in message


def test_enforce_raises_with_the_result():
    frame = raw_orders().head(0)
    result = run_gate("raw_orders", frame, DAY)
    with pytest.raises(QualityGateFailed) as caught:
        enforce(result)
    assert caught.value.result is result
    assert str(caught.value) == result.failure_message()
    assert "raw_orders" in str(caught.value) and ROW_COUNT_MIN_1 in str(caught.value)


def test_enforce_returns_passing_results():
    result = gate_cleaned(cleaned_orders())
    assert enforce(result) is result


def test_quality_gate_failed_survives_pickling():
    result = run_gate("raw_orders", raw_orders().drop(columns="amount"), DAY)
    error = pickle.loads(pickle.dumps(QualityGateFailed(result)))
    assert isinstance(error, QualityGateFailed)
    assert error.result == result
    assert str(error) == result.failure_message()


def test_summary_is_json_serialisable():
    frame = cleaned_orders()
    frame.loc[0, "amount_cents"] = -200
    summary = json.loads(json.dumps(gate_cleaned(frame).summary()))
    assert summary == {
        "dataset": "cleaned_orders",
        "partition": "2026-03-01",
        "status": "warned",
        "failed": [],
        "warnings": [NON_NEGATIVE],
        "evaluated": 9,
    }


def test_outcomes_follow_suite_order():
    result = gate_cleaned(cleaned_orders())
    suite_names = [
        config.meta[suites.NAME_META_KEY] for config in build_suite("cleaned_orders").expectation_configurations
    ]
    assert [o.expectation for o in result.outcomes] == suite_names


def test_partition_may_be_given_as_text():
    assert gate_cleaned(cleaned_orders(), "2026-03-01").partition == DAY


# ---------------------------------------------------------------------------------------------
# runtime: concurrency and speed


def test_concurrent_gates_validate_their_own_frames():
    """GX keeps the loaded batch per data source under one id per asset; threads sharing one
    would validate each other's frames. Every thread must see exactly its own duplicates."""

    def gate(k: int) -> tuple[int, int | None]:
        frame = cleaned_orders(3000 + k)
        frame.loc[: k - 1, "order_id"] = -1  # k rows share one order_id
        result = gate_cleaned(frame)
        return k, outcome(result, UNIQUE).unexpected_count

    with ThreadPoolExecutor(max_workers=12) as pool:
        seen = list(pool.map(gate, range(2, 26)))
    assert seen == [(k, k) for k in range(2, 26)]


def test_gx_does_not_fingerprint_the_frames(monkeypatch):
    """GX md5-hashes every frame it loads (~0.5 s for 1M orders) unless the runtime stops it."""
    from great_expectations.execution_engine import pandas_execution_engine

    calls: list[int] = []
    monkeypatch.setattr(pandas_execution_engine, "hash_pandas_dataframe", lambda df: calls.append(len(df)) or "x")
    assert gate_cleaned(cleaned_orders()).status == "passed"
    assert calls == []


def test_the_fingerprint_patch_still_matches_gx():
    """The runtime's one patch of GX internals (``HASH_THRESHOLD``, see
    ``runtime._disable_dataframe_fingerprint``) needs GX to still gate the fingerprint on
    that module constant; this fails when a GX upgrade changes it."""
    import inspect

    from great_expectations.execution_engine import pandas_execution_engine

    loader = inspect.getsource(pandas_execution_engine.PandasExecutionEngine.get_batch_data_and_markers)
    assert "< HASH_THRESHOLD" in loader and "hash_pandas_dataframe(df)" in loader
    assert pandas_execution_engine.HASH_THRESHOLD == 0


def test_validated_frames_are_released():
    """The lane's GX engine must not keep the last frame (1M rows) alive between gates."""
    frame = raw_orders()
    alive = weakref.ref(frame)
    assert run_gate("raw_orders", frame, DAY).status == "passed"
    del frame
    gc.collect()
    assert alive() is None
