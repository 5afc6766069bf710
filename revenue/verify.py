"""Reconciliation: recompute each day from its input and compare with what is published.

``revenue verify`` reads each day's source rows (plain SQL, no pandas) and the rows of every
landed file the landing registry holds for the day, and recomputes, row by row in plain
Python, what the day must publish: the orders contract's per-value rules
(``revenue.contract.order_id_of``, ``customer_id_of``, ``cents_of``, ``timestamp_of``), the
day bounds (each landed row's day is decided here, from all of its file's rows), the landing
overlay (a later landing wins by ``order_id``) and the newest version of each order, across
days: an order whose latest version is on another day counts there (its other versions
are found by ``order_id`` in the source and in every current landed file holding it). None of
the pipeline's pandas code (cleaning, overlay, aggregation) is used; only the landed-file
decoder is shared. It then compares revenue, order count and every
customer's spend with the published ``daily_revenue`` and ``customer_daily_spend``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pandas as pd

from revenue import catalog, contract
from revenue.contract import REQUIRED_COLUMNS, VERSION_COLUMN, cents_to_decimal
from revenue.errors import DataError, InputSuperseded
from revenue.io.environment import Environment
from revenue.io.landing.versions import LandedVersion
from revenue.io.partition_input import PartitionInput, plan_inputs
from revenue.partitions import day_bounds, partition_range

COLUMNS = (*REQUIRED_COLUMNS, VERSION_COLUMN)

RawRow = tuple[Any, ...]
"""One row's raw values of ``COLUMNS``, as read (any type; None where missing)."""
VersionKey = tuple[tuple[int] | tuple[int, dt.datetime], dt.datetime, str, int, int]
"""What orders one order's versions, newest last: (no version / (1, updated_at)), order_date,
customer, cents, line."""
Candidate = tuple[int, int, VersionKey, str, int, dt.datetime]
"""One valid version of an order: (order_id, landing, version key, customer, cents, moment)."""


@dataclass(frozen=True)
class Expected:
    """What a day must publish, in whole cents."""

    revenue_cents: int
    order_count: int
    spend_cents: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Difference:
    partition: dt.date
    expected_revenue: Decimal
    expected_orders: int
    published_revenue: Decimal | None
    published_orders: int | None
    customers: tuple[str, ...] = ()
    """Customers whose published daily_spend differs (or is missing, or extra)."""
    problem: str | None = None
    """Why the day could not be recomputed (a landed file that is gone, ...)."""

    def describe(self) -> str:
        if self.problem:
            return f"{self.partition}: cannot be recomputed: {self.problem}"
        expected = f"{self.expected_revenue:,.2f} from {self.expected_orders} orders"
        if self.published_revenue is None:
            return f"{self.partition}: not published (its input says {expected})"
        if self.published_revenue != self.expected_revenue or self.published_orders != self.expected_orders:
            return (
                f"{self.partition}: published {self.published_revenue:,.2f} from {self.published_orders} orders, "
                f"its input says {expected}"
            )
        shown = ", ".join(self.customers[:5]) + (" ..." if len(self.customers) > 5 else "")
        return f"{self.partition}: customer_daily_spend differs for {len(self.customers)} customer(s): {shown}"


def expected_day(env: Environment, input: PartitionInput) -> Expected:
    """The day recomputed from its source rows and landed files, value by value.

    Every valid version of each order is weighed, wherever its day: the day's source rows
    and current files, the source's rows of the same orders on other days, and every
    current landed file holding one of them (read whole here; the day of each row is
    decided here, by its ``order_date``). The latest version (landing first, then
    ``updated_at``, then ``order_date``) decides the order's day; the day counts the orders
    whose latest version falls inside it."""
    start, end = day_bounds(input.partition)
    candidates: list[Candidate] = []
    _add_versions(candidates, 0, list(enumerate(env.source.rows(input.partition, COLUMNS), start=1)))
    read = set()
    for version in input.files:  # every row of the file: the day is decided here, by its order_date
        _add_versions(candidates, version.seq, _file_rows(env, version, input.partition))
        read.add(version.seq)
    ours = sorted({c[0] for c in candidates if start <= c[5] < end})
    elsewhere = _value_rows(env.source.versions_elsewhere(input.partition, ours))
    _add_versions(candidates, 0, list(enumerate(elsewhere, start=-len(elsewhere))))
    for version in env.registry.holding(ours):
        if version.seq not in read:
            _add_versions(candidates, version.seq, _file_rows(env, version, input.partition))
    winners: dict[int, Candidate] = {}
    for candidate in candidates:
        order_id, landing, newest = candidate[:3]
        held = winners.get(order_id)
        if held is None or (landing, newest) > (held[1], held[2]):
            winners[order_id] = candidate
    spend: dict[str, int] = defaultdict(int)
    counted = 0
    for _, _, _, customer, cents, moment in winners.values():
        if start <= moment < end:
            spend[customer] += cents
            counted += 1
    return Expected(sum(spend.values()), counted, dict(spend))


def _file_rows(env: Environment, version: LandedVersion, partition: dt.date) -> list[tuple[int, RawRow]]:
    """Every row of a landed file as (line, raw values of ``COLUMNS``)."""
    frame = env.registry.rows_of(version, partition)
    return list(zip(frame.index.tolist(), _value_rows(frame)))


def _value_rows(frame: pd.DataFrame) -> list[RawRow]:
    """The raw values of ``COLUMNS`` of each row (a missing column or value is None)."""
    columns = frame.reindex(columns=list(COLUMNS))
    return list(columns.astype("object").where(columns.notna(), None).itertuples(index=False, name=None))


def _add_versions(candidates: list[Candidate], landing: int, rows: list[tuple[int, RawRow]]) -> None:
    """The valid versions among ``rows`` (per the contract's per-value rules), any day."""
    for line, (raw_id, raw_customer, raw_amount, raw_date, raw_version) in rows:
        order_id, bad_id = contract.order_id_of(raw_id)
        customer, bad_customer = contract.customer_id_of(raw_customer)
        cents, bad_amount = contract.cents_of(raw_amount)
        moment = contract.timestamp_of(raw_date)
        refused = bad_id or bad_customer or bad_amount
        if refused or order_id is None or customer is None or cents is None or moment is None:
            continue
        updated = contract.timestamp_of(raw_version)
        newest = ((0,) if updated is None else (1, updated), moment, customer, cents, line)
        candidates.append((order_id, landing, newest, customer, cents, moment))


def verify_range(config: str | Environment, start: dt.date, end: dt.date) -> list[Difference]:
    """Every partition of ``[start, end]`` whose published figures differ from its input
    (``config``: an environment or its block's name). Only the range's published rows are
    read, so the cost grows with the range, not with the warehouse."""
    from revenue.io.environment import environment

    env = environment(config) if isinstance(config, str) else config
    published = {row.order_date: row for row in env.warehouse.read_range(catalog.DAILY_REVENUE.name, start, end)}
    spend_by_day: dict[dt.date, dict[str, int]] = defaultdict(dict)
    for spent in env.warehouse.read_range(catalog.CUSTOMER_DAILY_SPEND.name, start, end):
        spend_by_day[spent.order_date][spent.customer_id] = int(spent.daily_spend * 100)
    differences = []
    for input in plan_inputs(env, partition_range(start, end)):
        day = input.partition
        try:
            expected = expected_day(env, input)
        except (DataError, InputSuperseded) as problem:
            differences.append(Difference(day, Decimal(0), 0, None, None, problem=str(problem)))
            continue
        row = published.get(day)
        if row is None:
            if expected.order_count:
                differences.append(
                    Difference(day, cents_to_decimal(expected.revenue_cents), expected.order_count, None, None)
                )
            continue
        held = spend_by_day.get(day, {})
        customers = tuple(
            sorted(c for c in set(held) | set(expected.spend_cents) if held.get(c) != expected.spend_cents.get(c))
        )
        if (
            int(row.revenue * 100) != expected.revenue_cents
            or int(row.order_count) != expected.order_count
            or customers
        ):
            differences.append(
                Difference(
                    day,
                    cents_to_decimal(expected.revenue_cents),
                    expected.order_count,
                    row.revenue,
                    int(row.order_count),
                    customers,
                )
            )
    return differences


def render_differences(differences: list[Difference], start: dt.date, end: dt.date) -> str:
    days = len(partition_range(start, end))
    if not differences:
        return f"verified {days} partitions {start}..{end}: published revenue matches the source and landed files"
    lines = [f"{len(differences)} of {days} partitions differ from their input (source and landed files):"]
    return "\n".join(lines + ["  " + d.describe() for d in differences])
