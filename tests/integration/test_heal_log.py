"""The heal log (``revenue.io.heal_log``) on SQLite (the embedded default) and on Postgres:
a (day, input version) is claimed once, and recording, claiming and assigning runs to the
days of a heal cost one statement each, whatever the number of days (a watcher turned on
over a long horizon heals hundreds of days in one pass); a whole watcher pass, planning
and heal step, sends as many statements over 190 days as over 40."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from revenue.healing import Wanted
from revenue.io import heal_log
from revenue.io.environment import environment
from revenue.io.warehouse.database import Warehouse

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 3, 1, 12, tzinfo=UTC)
DAYS = [dt.date(2025, 3, 1) + dt.timedelta(days=n) for n in range(365)]


@pytest.fixture(params=["sqlite_env", "pg_env"])
def warehouse(request) -> Warehouse:
    env = environment(request.getfixturevalue(request.param))
    env.warehouse.ensure_tables()
    return env.warehouse


@contextmanager
def statements(engine: sa.engine.Engine | type[sa.engine.Engine] = sa.engine.Engine) -> Iterator[list[str]]:
    """The SQL statements ``engine`` (by default: every engine) sends inside the block."""
    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        sent.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def wanted(days: list[dt.date], version: str = "v1") -> list[Wanted]:
    return [Wanted(day, f"{version}-{day}", "source rows changed") for day in days]


def rows(warehouse: Warehouse) -> dict[tuple[dt.date, str], dict]:
    table = warehouse.table(heal_log.TABLE)
    with warehouse.engine.connect() as connection:
        found = connection.execute(sa.select(table)).mappings().all()
    return {(r["partition_date"], r["fingerprint"]): dict(r) for r in found}


def test_a_year_of_days_is_recorded_claimed_and_assigned_in_a_few_statements(warehouse):
    with statements(warehouse.engine) as sent:
        requests = heal_log.record_wanted(warehouse, wanted(DAYS), NOW)
    assert len(requests) == len(DAYS) and len(sent) == 2  # one insert, one select

    with statements(warehouse.engine) as sent:
        claimed = heal_log.claim(warehouse, requests, "watcher:1", NOW)
    assert sorted(r.partition for r in claimed) == DAYS
    assert all(r.claimed_at == NOW for r in claimed)
    assert len(sent) == 1

    with statements(warehouse.engine) as sent:
        assigned = heal_log.assign(warehouse, claimed, "heal-key", "heal-2025-03-01..2026-02-28")
        heal_log.record_run(warehouse, assigned, "run-1")
    assert len(sent) == 2
    stored = rows(warehouse)
    assert len(stored) == len(DAYS)
    assert {(r["claimed_by"], r["run_key"], r["run_name"], r["run_id"]) for r in stored.values()} == {
        ("watcher:1", "heal-key", "heal-2025-03-01..2026-02-28", "run-1")
    }


def test_a_day_is_claimed_once_and_only_its_own_version_is_touched(warehouse):
    first = heal_log.record_wanted(warehouse, wanted(DAYS[:10]), NOW)
    newer = heal_log.record_wanted(warehouse, wanted(DAYS[:3], "v2"), NOW)  # the input changed again
    by_other = heal_log.claim(warehouse, first[:4], "watcher:2", NOW)
    assert [r.partition for r in by_other] == DAYS[:4]

    later = NOW + dt.timedelta(minutes=1)
    claimed = heal_log.claim(warehouse, first, "watcher:1", later)  # the other watcher took four
    assert [r.partition for r in claimed] == DAYS[4:10]
    assert all(r.claimed_at == later and r.fingerprint == f"v1-{r.partition}" for r in claimed)
    assert heal_log.claim(warehouse, first, "watcher:1", later) == []

    heal_log.assign(warehouse, claimed[:2], "key-a", "heal-a")
    stored = rows(warehouse)
    assert [stored[(r.partition, r.fingerprint)]["claimed_by"] for r in first] == ["watcher:2"] * 4 + ["watcher:1"] * 6
    assert [stored[(r.partition, r.fingerprint)]["run_key"] for r in first] == [None] * 4 + ["key-a"] * 2 + [None] * 4
    assert all(stored[(r.partition, r.fingerprint)]["claimed_at"] is None for r in newer)  # another version
    assert heal_log.claim(warehouse, [], "watcher:1", later) == []


@pytest.mark.parametrize("config_fixture", ["sqlite_env", "pg_env"])
def test_a_watcher_pass_sends_as_many_statements_over_190_days_as_over_40(config_fixture, request):
    """Planning and the heal step of a pass (``bench/heal_pass.py`` measures them at scale):
    the same statements whatever the number of days, within one fingerprint batch."""
    from flows.healing import heal, horizon_days
    from revenue.healing import HealPolicy
    from revenue.io.source import FINGERPRINT_BATCH
    from revenue.status import current_statuses
    from tests.integration.helpers import seed_orders

    config = request.getfixturevalue(config_fixture)
    first = dt.date(2025, 6, 1)
    seed_orders(config, [(n, f"c{n}", 10.0, f"{first + dt.timedelta(days=n)} 10:00:00") for n in range(190)])
    env = environment(config)
    sent_by_days, recorded = {}, {}
    assert 190 <= FINGERPRINT_BATCH
    for n in (40, 190):
        now = dt.datetime.combine(first + dt.timedelta(days=n), dt.time(12), tzinfo=UTC)
        policy = HealPolicy(enabled=True, settle=dt.timedelta(hours=1), horizon_days=n)
        days = horizon_days(policy, now.date())
        assert (days[0], len(days)) == (first, n)
        heal(config, env, current_statuses(env, days), policy, now)  # connections, caches, first record
        with statements() as sent:  # the source's and the warehouse's
            assert heal(config, env, current_statuses(env, days), policy, now) == []  # not settled: nothing started
        sent_by_days[n] = len(sent)
        recorded[n] = len(rows(env.warehouse))
    assert recorded == {40: 40, 190: 190}  # every day never published past its deadline is recorded
    assert sent_by_days[40] == sent_by_days[190]
