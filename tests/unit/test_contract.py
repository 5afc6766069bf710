"""The orders contract: the vectorised rules the pipeline runs agree, value for value, with
the per-value reference rules ``revenue verify`` runs, on every kind of column an input
can bring (source types, CSV text, Parquet types, merged objects)."""

from __future__ import annotations

import random
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from revenue import contract

RANDOM = random.Random(20261129)


def _texts(n: int) -> list[str | None]:
    pieces = [
        "",
        " ",
        "+",
        "-",
        "0",
        "7",
        "12",
        "123",
        "9223372036854775807",
        "9223372036854775808",
        ".",
        ".0",
        ".00",
        ".5",
        ".125",
        ".005",
        ".995",
        "e3",
        "E-2",
        "abc",
        "A-",
        ",50",
        "NaN",
        "inf",
        "1000000000000000",
        "999999999999999.99",
        "1000000000000000.01",
        " 0123 ",
        ".004",
        "1_0",
        "\u0661\u0662",
        "999999999999999.999",
    ]
    values: list[str | None] = [None]
    for _ in range(n):
        values.append("".join(RANDOM.choice(pieces) for _ in range(RANDOM.randint(1, 3))))
    return values


def _floats(n: int) -> list[float]:
    specials = [
        0.0,
        -0.0,
        0.1,
        0.145,
        0.125,
        -0.125,
        19.99,
        1e13,
        1e15,
        1e15 + 0.25,
        1e16,
        12.5,
        1e20,
        float("nan"),
        float("inf"),
        float("-inf"),
        2.0**63,
        -(2.0**63),
    ]
    return specials + [round(RANDOM.uniform(-1e6, 1e6), RANDOM.randint(0, 4)) for _ in range(n)]


COLUMNS = {
    "text": lambda: pd.Series(_texts(400), dtype="str"),
    "object text": lambda: pd.Series(_texts(400), dtype="object"),
    "float": lambda: pd.Series(_floats(400), dtype="float64"),
    "int": lambda: pd.Series([RANDOM.randint(-(10**12), 10**12) for _ in range(50)] + [None], dtype="Int64"),
    "uint64": lambda: pd.Series([0, 7, 2**63 - 1, 2**63, 2**64 - 1, None], dtype="UInt64"),
    "mixed objects": lambda: pd.Series([1, 2.5, "3", None, Decimal("4.005"), True, "x", 7.0, "8.0"], dtype="object"),
    "decimal(12,2)": lambda: pd.Series(
        pd.array(
            [Decimal(f"{RANDOM.randint(-(10**9), 10**9)}.{RANDOM.randint(0, 99):02d}") for _ in range(50)] + [None],
            dtype=pd.ArrowDtype(pa.decimal128(12, 2)),
        )
    ),
    "decimal(18,4)": lambda: pd.Series(
        pd.array(
            [Decimal(f"{RANDOM.randint(-(10**9), 10**9)}.{RANDOM.randint(0, 9999):04d}") for _ in range(50)] + [None],
            dtype=pd.ArrowDtype(pa.decimal128(18, 4)),
        )
    ),
}

RULES = {
    "order_id": (contract.order_ids, contract.order_id_of),
    "customer_id": (contract.customer_ids, contract.customer_id_of),
    "amount": (contract.amount_cents, contract.cents_of),
}
CASES = [
    (rule, kind) for rule in RULES for kind in sorted(COLUMNS) if rule == "amount" or not kind.startswith("decimal")
]


@pytest.mark.parametrize("rule, kind", CASES)
def test_vectorised_rules_agree_with_the_reference(rule, kind):
    vectorised, reference = RULES[rule]
    values = COLUMNS[kind]()
    parsed, reasons = vectorised(values)
    for position, value in enumerate(values.tolist()):
        expected, why = reference(value)
        got = parsed.iloc[position]
        got = None if pd.isna(got) else got
        assert (got, None if pd.isna(reasons.iloc[position]) else reasons.iloc[position]) == (expected, why), repr(
            value
        )


def test_timestamps_agree_with_the_reference():
    texts = [
        "2026-03-01",
        "2026-03-01T10",
        "20260301",
        "2026-03",
        "2026-03-01 10:00:00.1234567890",
        "2026-03-01T10:00:00+02:00",
        " 2026-03-01 10:00 ",
        "2026-02-30",
        "01/03/2026",
        None,
        "",
    ]
    parsed = contract.timestamps(pd.Series(texts, dtype="str"))
    for value, got in zip(texts, parsed):
        expected = contract.timestamp_of(value)
        assert (None if pd.isna(got) else got.to_pydatetime()) == expected, value


def test_money_rules_by_example():
    cases = {
        "12.34": 1234,
        "-0.125": -13,
        "0.125": 13,
        "0.124": 12,
        ".5": 50,
        "5.": 500,
        "1e3": 100000,
        "1000000000000000": 10**17,
        "-1000000000000000.00": -(10**17),
    }
    for text, cents in cases.items():
        assert contract.cents_of(text) == (cents, None), text
    assert contract.cents_of(0.145) == (15, None)  # the float's shortest decimal, rounded half away
    assert contract.cents_of("1000000000000000.01")[1] == contract.AMOUNT_OUT_OF_RANGE
    assert contract.cents_of("12,50")[1] == contract.BAD_AMOUNT


def test_ids_by_example():
    assert contract.order_id_of("123.0") == (123, None)
    assert contract.order_id_of("A-1001") == (None, contract.BAD_ORDER_ID)
    assert contract.order_id_of(2.0**63) == (None, contract.BAD_ORDER_ID)
    assert contract.customer_id_of("123.00") == ("123", None)
    assert contract.customer_id_of(123.0) == ("123", None)
    assert contract.customer_id_of("0123") == ("0123", None)
    assert contract.customer_id_of("   ") == (None, contract.NULL_CUSTOMER_ID)


def test_cents_become_exact_decimals_without_python_objects_per_value():
    cents = pd.Series([1425, -5, 10**17 + 1, None], dtype="Int64")
    array = contract.cents_to_arrow(cents)
    assert array.type == pa.decimal128(20, 2)
    assert array.to_pylist() == [Decimal("14.25"), Decimal("-0.05"), Decimal("1000000000000000.01"), None]
    assert contract.sum_cents(pd.Series([np.int64(2**62), np.int64(2**62), np.int64(2**62)])) == 3 * 2**62


def test_quarantine_records_round_trip_values_as_read():
    import json

    texts = ["01/03/2026", "a\\/b", "c\\\\/d", 'say "hi"', "two\nlines", "Zoë", "", None]
    frame = pd.DataFrame(
        {
            "text": pd.Series(texts, dtype="str"),
            "amount": pd.Series([float("inf"), 1.5, None, -0.0, 2.0, 3.0, 4.0, 5.0]),
            "when": pd.to_datetime(["2026-03-01 10:00:00"] * 7 + [None], utc=True),
            "money": pd.Series(pd.array([Decimal("1.10")] * 8, dtype=pd.ArrowDtype(pa.decimal128(38, 2)))),
        }
    )
    records = [json.loads(r) for r in contract.records_json(frame)]
    assert [r["text"] for r in records] == [t if t is not None else None for t in texts]
    assert records[0]["amount"] == "inf" and records[2]["amount"] is None
    assert records[0]["when"] == "2026-03-01T10:00:00.000000+0000" and records[7]["when"] is None
    assert records[0]["money"] == "1.10"
