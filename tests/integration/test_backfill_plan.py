"""``revenue backfill --plan`` / ``backfill(plan_only=True)``: each day with the reason the
backfill would compute or skip it, nothing computed or written, and the real backfill then
doing exactly that."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from flows.backfill import backfill
from revenue.backfill_plan import preview
from revenue.io.environment import environment
from tests.integration.helpers import seed_orders

D1, D2, D3, D4 = (dt.date(2026, 3, d) for d in (1, 2, 3, 4))


def _ledger(config: str):
    table = environment(config).warehouse.read_table("partition_ledger")
    return table.astype(object).where(table.notna(), None).to_dict("records")


def test_the_plan_names_every_days_reason_computes_nothing_and_the_backfill_agrees(sqlite_env):
    seed_orders(
        sqlite_env,
        [
            (1, "a", 10.0, "2026-03-01 10:00:00"),
            (2, "b", 20.0, "2026-03-02 10:00:00"),
            (3, "c", 30.0, "2026-03-03 10:00:00"),
            (4, "d", 40.0, "2026-03-04 10:00:00"),
        ],
    )
    backfill(start=D1.isoformat(), end=D3.isoformat(), env=sqlite_env)
    engine = environment(sqlite_env).source.engine
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE orders SET amount = 25.0 WHERE order_id = 2"))  # D2 stale
        connection.execute(sa.text("UPDATE orders SET customer_id = NULL WHERE order_id = 3"))  # D3 will fail
    backfill.with_options(retries=0)(
        start=D3.isoformat(), end=D3.isoformat(), env=sqlite_env, force=True, return_state=True
    )
    before = _ledger(sqlite_env)

    plan = {d.partition: d for d in preview(environment(sqlite_env), D1, D4)}
    assert (plan[D1].action, plan[D1].reason) == ("skip", "current")
    assert plan[D2].action == "compute" and plan[D2].reason.startswith("stale: ") and "source rows" in plan[D2].reason
    assert plan[D3].action == "compute" and plan[D3].reason.startswith("failed before: quality gate failed")
    assert (plan[D4].action, plan[D4].reason) == ("compute", "new")
    assert all(plan[d].estimate_ms for d in (D2, D3, D4))  # recorded, or the range's median
    chunked = {d.partition: d for d in preview(environment(sqlite_env), D1, D4, partitions_per_run=1)}
    assert str(chunked[D1].chunk) == "no run (all current)"  # a chunk of current days starts no run
    assert [str(chunked[d].chunk) for d in (D2, D3, D4)] == [
        f"chunk {n}/4 ({d})" for n, d in ((2, D2), (3, D3), (4, D4))
    ]
    pairs = preview(environment(sqlite_env), D1, D4, partitions_per_run=2)
    assert [str(d.chunk) for d in pairs] == [f"chunk 1/2 ({D1}..{D2})"] * 2 + [f"chunk 2/2 ({D3}..{D4})"] * 2
    assert all(d.chunk is None for d in plan.values())  # one run: no chunks
    forced = {d.partition: d for d in preview(environment(sqlite_env), D1, D4, force=True)}
    assert (forced[D1].action, forced[D1].reason) == ("compute", "forced (current)")

    assert backfill(start=D1.isoformat(), end=D4.isoformat(), env=sqlite_env, plan_only=True) == []
    assert _ledger(sqlite_env) == before  # nothing computed, nothing written

    state = backfill(start=D1.isoformat(), end=D4.isoformat(), env=sqlite_env, return_state=True)
    assert state.is_failed() and "2026-03-03" in state.message and "(1 of 4 partitions failed)" in state.message
    after = {(r["partition_date"], r["dataset"]): r for r in _ledger(sqlite_env)}
    untouched = {(r["partition_date"], r["dataset"]): r for r in before}
    assert all(after[key] == row for key, row in untouched.items() if key[0] == D1)  # skipped: not touched
    for day in (D2, D4):  # computed and published, as planned
        assert after[(day, "daily_revenue")]["status"] == "materialized"
        assert after[(day, "daily_revenue")]["attempted_at"] > max(r["attempted_at"] for r in before)
