"""The source fingerprint sees every edit of the contract's columns (issue 24, observation 4).

An in-place edit that keeps a day's row count, amount sum, id bounds and newest
``updated_at`` (two orders swapping amounts, an order moving to another customer) must make
the day stale and make a plain run recompute it, on Postgres and on the embedded SQLite
source; the other days stay current. The fingerprint does not depend on the order the
database returns the rows in, and a NULL is not an empty string.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from flows.backfill import backfill
from flows.daily_revenue import daily_revenue
from revenue.io.environment import environment
from revenue.status import partition_statuses
from tests.integration.helpers import published, seed_orders

DAY = dt.date(2026, 5, 1)
OTHER = dt.date(2026, 5, 2)
STAMP = "2026-05-01 12:00:00"
ROWS = [
    # (order_id, customer_id, amount, order_date, updated_at): one updated_at for the day,
    # so no edit below changes the newest one.
    (1, "alice", 10.00, "2026-05-01 08:00:00", STAMP),
    (2, "bob", 25.00, "2026-05-01 09:00:00", STAMP),
    (3, "carol", 30.00, "2026-05-01 10:00:00", STAMP),
    (4, "dave", 7.00, "2026-05-02 10:00:00", STAMP),
]

EDITS = {
    # two orders swap amounts: same count, sum, ids and updated_at
    "swap amounts": (
        "UPDATE orders SET amount = CASE order_id WHEN 1 THEN 25.00 ELSE 10.00 END WHERE order_id IN (1, 2)",
        {"alice": Decimal("25.00"), "bob": Decimal("10.00"), "carol": Decimal("30.00")},
    ),
    # an order moves to another customer
    "move to another customer": (
        "UPDATE orders SET customer_id = 'alice' WHERE order_id = 3",
        {"alice": Decimal("40.00"), "bob": Decimal("25.00")},
    ),
}


@pytest.fixture(params=["sqlite_env", "pg_env"])
def any_env(request) -> str:
    return request.getfixturevalue(request.param)


def execute(config: str, statement: str, **params: object) -> None:
    with environment(config).source.engine.begin() as connection:
        connection.execute(sa.text(statement), params)


def spend_of(config: str, day: dt.date) -> dict[str, Decimal]:
    rows = published(config, "customer_daily_spend", day)
    return {
        customer: Decimal(str(spend)).quantize(Decimal("0.01"))
        for customer, spend in zip(rows["customer_id"], rows["daily_spend"])
    }


def states(config: str) -> dict[dt.date, str]:
    return {s.partition: s.state for s in partition_statuses(config, DAY, OTHER)}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_an_in_place_edit_that_keeps_the_aggregates_makes_its_day_stale_and_is_recomputed(any_env, edit):
    seed_orders(any_env, ROWS)
    backfill(start=DAY.isoformat(), end=OTHER.isoformat(), env=any_env)
    assert states(any_env) == {DAY: "materialized", OTHER: "materialized"}
    other_fingerprint = environment(any_env).source.fingerprint(OTHER)

    statement, spend_after = EDITS[edit]
    execute(any_env, statement)

    assert states(any_env) == {DAY: "stale", OTHER: "materialized"}, edit
    assert environment(any_env).source.fingerprint(OTHER) == other_fingerprint
    [rerun] = daily_revenue(partition_date=DAY.isoformat(), env=any_env)
    assert rerun.outcome == "published", rerun
    assert spend_of(any_env, DAY) == spend_after
    assert rerun.revenue == Decimal("65.00")
    assert states(any_env) == {DAY: "materialized", OTHER: "materialized"}
    [again] = daily_revenue(partition_date=DAY.isoformat(), env=any_env)
    assert again.outcome == "cache hit"


def test_the_fingerprint_does_not_depend_on_row_order(any_env):
    seed_orders(any_env, ROWS)
    before = environment(any_env).source.fingerprints([DAY, OTHER])
    seed_orders(any_env, list(reversed(ROWS)))  # the same rows, stored in the other order
    assert environment(any_env).source.fingerprints([DAY, OTHER]) == before


def test_a_null_is_not_an_empty_string_and_values_do_not_shift_between_rows_or_columns(any_env):
    source = environment(any_env).source

    def fingerprint_of(rows: list[tuple], empty_customer: int | None = None) -> str:
        seed_orders(any_env, rows)
        if empty_customer is not None:  # COPY's CSV loads '' as NULL: set it in SQL
            execute(any_env, "UPDATE orders SET customer_id = '' WHERE order_id = :id", id=empty_customer)
        return source.fingerprint(DAY)

    # the same counts, sums, id bounds and newest updated_at every time
    null_first = fingerprint_of([(1, None, 10.0, STAMP), (2, None, 10.0, STAMP)], empty_customer=2)
    empty_first = fingerprint_of([(1, None, 10.0, STAMP), (2, None, 10.0, STAMP)], empty_customer=1)
    assert null_first != empty_first
    swapped = fingerprint_of([(1, "ab", 10.0, STAMP), (2, "c", 10.0, STAMP)])
    shifted = fingerprint_of([(1, "a", 10.0, STAMP), (2, "bc", 10.0, STAMP)])
    assert swapped != shifted
    assert fingerprint_of([(1, "ab", 10.0, STAMP), (2, "c", 10.0, STAMP)]) == swapped  # and it is stable
