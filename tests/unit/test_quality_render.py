"""Markdown rendering of gate results and artifact keys (no Prefect)."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest

from revenue.quality import (
    DATASETS,
    ExpectationOutcome,
    GateResult,
    artifact_key,
    render_markdown,
    run_gate,
)

DAY = dt.date(2026, 3, 1)
TABLE_HEADER = "| expectation | severity | status | unexpected count | sample of unexpected values |"


def outcome(name: str, severity: str = "critical", **overrides) -> ExpectationOutcome:
    fields = dict(
        expectation=name,
        severity=severity,
        success=True,
        raised=None,
        unexpected_count=0,
        unexpected_sample=[],
    )
    fields.update(overrides)
    return ExpectationOutcome(**fields)


def table_rows(markdown: str) -> list[str]:
    lines = markdown.splitlines()
    start = lines.index(TABLE_HEADER)
    return [line for line in lines[start + 2 :] if line.startswith("|")]


def cells(row: str) -> list[str]:
    """Split a table row on unescaped pipes."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]


def test_render_has_heading_and_one_row_per_expectation():
    result = GateResult(
        dataset="cleaned_orders",
        partition=DAY,
        outcomes=(
            outcome("expect_column_values_to_not_be_null(order_id)"),
            outcome(
                "expect_column_values_to_be_unique(order_id)",
                success=False,
                unexpected_count=4,
                unexpected_sample=["o-7", "o-7", "o-9", "o-9"],
            ),
            outcome(
                "expect_column_values_to_be_between(amount)",
                severity="warning",
                success=False,
                unexpected_count=1,
                unexpected_sample=["-12.5"],
                expected=">= 0",
            ),
            outcome(
                "expect_column_values_to_be_between(order_date)",
                success=False,
                raised="Invalid comparison between dtype=datetime64[ns] and Timestamp",
                unexpected_count=None,
            ),
        ),
        max_failure_severity="critical",
    )
    markdown = render_markdown(result)
    heading = markdown.splitlines()[0]
    assert heading.startswith("#")
    assert "cleaned_orders" in heading and "2026-03-01" in heading and "failed" in heading
    assert TABLE_HEADER in markdown

    rows = [cells(r) for r in table_rows(markdown)]
    assert len(rows) == 4 and all(len(r) == 5 for r in rows)
    assert rows[0][1:4] == ["critical", "passed", "0"]
    assert rows[1][1:4] == ["critical", "FAILED", "4"]
    assert "`o-7`" in rows[1][4] and "`o-9`" in rows[1][4]
    assert rows[2][1:4] == ["warning", "FAILED", "1"]
    assert "`-12.5`" in rows[2][4] and ">= 0" in rows[2][0]
    assert rows[3][1:4] == ["critical", "raised", ""]
    assert "Invalid comparison" in rows[3][4]


def test_render_escapes_pipes_and_newlines_in_values():
    result = GateResult(
        dataset="cleaned_orders",
        partition=DAY,
        outcomes=(
            outcome(
                "expect_column_values_to_be_unique(order_id)",
                success=False,
                unexpected_count=2,
                unexpected_sample=["a|b", "line\nbreak"],
            ),
        ),
        max_failure_severity="critical",
    )
    rows = table_rows(render_markdown(result))
    assert len(rows) == 1
    assert len(cells(rows[0])) == 5
    assert "a\\|b" in rows[0] and "line break" in rows[0]


def test_render_of_a_real_gate_shows_the_unexpected_values():
    frame = pd.DataFrame(
        {
            "order_id": pd.Series([1, 2, 3], dtype="int64"),
            "customer_id": pd.Series(["c-1", "c-2", "c-3"], dtype="str"),
            "amount_cents": [500, -725, 100],
            "order_date": pd.to_datetime(
                ["2026-03-01T01:00:00Z", "2026-03-01T02:00:00Z", "2026-03-01T03:00:00Z"], utc=True
            ),
        }
    )
    markdown = render_markdown(run_gate("cleaned_orders", frame, DAY, {"expected_rows": 3}))
    assert "**warned**" in markdown.splitlines()[0]
    (refund_row,) = [r for r in table_rows(markdown) if "be_between(amount_cents)" in r]
    assert cells(refund_row)[1:4] == ["warning", "FAILED", "1"]
    assert "`-725`" in cells(refund_row)[4]
    assert len(table_rows(markdown)) == 9


def test_render_shows_observed_row_count_for_an_empty_extract():
    empty = pd.DataFrame(columns=["order_id", "customer_id", "amount", "order_date"])
    markdown = render_markdown(run_gate("raw_orders", empty, DAY))
    (row,) = [r for r in table_rows(markdown) if "row_count" in r]
    assert cells(row)[2] == "FAILED"
    assert "observed: `0`" in cells(row)[4]


@pytest.mark.parametrize(
    ("dataset", "key"),
    [
        ("raw_orders", "quality-raw-orders"),
        ("cleaned_orders", "quality-cleaned-orders"),
        ("daily_revenue", "quality-daily-revenue"),
        ("Customer Daily_Spend!", "quality-customer-daily-spend"),
    ],
)
def test_artifact_key(dataset, key):
    assert artifact_key(dataset) == key


@pytest.mark.parametrize("dataset", [*DATASETS, "Ünïcode  name", "__x__", "UPPER.case/path"])
def test_artifact_key_only_has_lowercase_letters_digits_and_dashes(dataset):
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", artifact_key(dataset))
