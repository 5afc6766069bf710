"""The live partition grid: every run (daily, landed file, backfill) and the landing watcher
refresh the ``partition-status`` artifact, whose latest version is the true state of every
day; failures are readable at a glance; an idle landing zone creates no flow runs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.sorting import ArtifactSort

from flows.backfill import backfill
from flows.daily_revenue import daily_revenue
from flows.landing_watcher import watch
from revenue.demo_data import generate_orders
from revenue.io.environment import environment
from revenue.io.orders_table import create_orders_table, load_orders
from tests.integration.helpers import seed_orders

YESTERDAY = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
WEEK = [YESTERDAY - dt.timedelta(days=6 - i) for i in range(7)]  # inside the default 8-week window


def latest_grid() -> str:
    with get_client(sync_client=True) as client:
        [artifact] = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["partition-status"])),
            sort=ArtifactSort.CREATED_DESC,
            limit=1,
        )
    return artifact.data


def row_of(grid: str, day: dt.date) -> str:
    """The cell of ``day`` in the grid's calendar (its week's row, its weekday's column)."""
    monday = day - dt.timedelta(days=day.weekday())
    [line] = [line for line in grid.splitlines() if line.startswith(f"| {monday} |") and line.count("|") == 9]
    return line.split("|")[2 + day.weekday()].strip()


def land_one_order(env, config: str, name: str, day: dt.date) -> None:
    """A CSV ``name`` with one order on ``day`` landed in the local landing directory, and its
    landing run."""
    landing = Path(env.landing.uri().removeprefix("file://"))
    (landing / name).write_text(f"order_id,customer_id,amount,order_date\n990001,zed,12.50,{day}T10:00:00Z\n")
    daily_revenue(landed_key=name, env=config)


def flow_run_count() -> int:
    with get_client(sync_client=True) as client:
        return client.count_flow_runs()


def test_the_latest_grid_is_the_true_state_of_every_day_and_a_narrower_backfill_hides_nothing(sqlite_env):
    env = environment(sqlite_env)
    create_orders_table(env.source.engine, replace=True)
    load_orders(env.source.engine, generate_orders(WEEK[0], WEEK[-1], 60, seed=5))
    env.source._columns = None

    # a week of normal orders, ~3% refunds: materialized, not warned
    backfill(start=WEEK[0].isoformat(), end=WEEK[-1].isoformat(), env=sqlite_env)
    grid = latest_grid()
    assert all(row_of(grid, day).startswith("🟩") for day in WEEK), grid
    assert "🟨 warned **0**" in grid and "🟩 materialized **7**" in grid

    # a failing day (every customer_id null), then a landed file for another day
    failing = WEEK[4]
    with env.source.engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE orders SET customer_id = NULL WHERE order_date >= ? AND order_date < ?",
            (f"{failing} 00:00:00", f"{failing + dt.timedelta(days=1)} 00:00:00"),
        )
    state = daily_revenue(partition_date=failing.isoformat(), env=sqlite_env, return_state=True)
    assert state.is_failed()
    assert state.message.startswith(f"{failing} failed: quality gate failed for cleaned_orders partition {failing}")
    landed_day = WEEK[2]
    land_one_order(env, sqlite_env, "late-orders.csv", landed_day)
    grid = latest_grid()
    assert row_of(grid, failing).startswith("🟥") and row_of(grid, landed_day).startswith("🟩")
    assert f"| {failing} | 🟥 failed | quality gate failed for cleaned_orders partition {failing}" in grid
    assert "landing-late-orders.csv" in grid  # the run that wrote this version

    # a source edit without any run: the watcher's pass redraws the grid with the day stale
    seed_orders(sqlite_env, [(990002, "late", 1.00, f"{WEEK[1]} 12:00:00")], replace=False)
    runs_before = flow_run_count()
    watch(sqlite_env, interval=0, passes=1)
    grid = latest_grid()
    assert row_of(grid, WEEK[1]).startswith("🟧")
    assert f"| {WEEK[1]} | 🟧 stale | source rows changed |" in grid
    assert "landing zone last checked 20" in grid and "never" not in grid

    # a narrower backfill afterwards: the earlier failure is still there, with its cause
    backfill(start=WEEK[5].isoformat(), end=WEEK[6].isoformat(), env=sqlite_env, force=True)
    grid = latest_grid()
    assert row_of(grid, failing).startswith("🟥") and row_of(grid, WEEK[1]).startswith("🟧")
    assert f"| {failing} | 🟥 failed | quality gate failed for cleaned_orders" in grid
    assert f"by backfill-{WEEK[5]}..{WEEK[6]}" in grid
    assert "Lineage: `orders` (sqlite://" in grid and "→ `cleaned_orders`" in grid
    assert flow_run_count() == runs_before + 1  # the watcher made none; the backfill one


def test_an_idle_landing_zone_creates_no_flow_runs(sqlite_env):
    before = flow_run_count()
    assert watch(sqlite_env, interval=0, passes=3) == 0
    assert flow_run_count() == before


def test_runs_and_partitions_carry_their_day_in_their_names(sqlite_env):
    seed_orders(sqlite_env, [(1, "a", 10.0, f"{YESTERDAY} 10:00:00")])
    state = daily_revenue(partition_date=YESTERDAY.isoformat(), env=sqlite_env, return_state=True)
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

        tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])))
    assert run.name == f"daily-revenue-{YESTERDAY}"
    assert {t.name for t in tasks} >= {f"partition-{YESTERDAY}", f"plan-{YESTERDAY}"}


def attention_line(grid: str, day: dt.date) -> str:
    [line] = [line for line in grid.splitlines() if line.startswith(f"| {day} | ") and line.count("|") == 5]
    return line


def test_days_before_the_first_order_read_no_data_and_a_long_cause_keeps_the_run_link_in_sight(sqlite_env):
    """A fresh environment whose orders begin mid-window: the weeks before the first order
    are quiet "no data" cells, not missing and not listed; a day without orders after it is
    missing; a landed file for an earlier day moves where the data begins."""
    from revenue.grid import render_text
    from revenue.status import current_statuses, grid_days

    env = environment(sqlite_env)
    first, failing = WEEK[3], WEEK[5]
    create_orders_table(env.source.engine, replace=True)
    orders = generate_orders(first, WEEK[-1], 20, seed=7)
    orders = orders[orders.order_date.dt.date != WEEK[4]]  # a day without orders after the first
    load_orders(env.source.engine, orders)
    with env.source.engine.begin() as connection:  # every order of the failing day: no customer
        connection.exec_driver_sql(
            "UPDATE orders SET customer_id = NULL WHERE order_date >= ? AND order_date < ?",
            (f"{failing} 00:00:00", f"{failing + dt.timedelta(days=1)} 00:00:00"),
        )
    env.source._columns = None

    state = backfill(start=failing.isoformat(), end=WEEK[-1].isoformat(), env=sqlite_env, return_state=True)
    assert state.is_failed() and len(state.message) > 100  # a cause far wider than the grid's column

    before = [day for day in grid_days(env) if day < first]
    assert len(before) == 52  # the 8-week window up to yesterday, before the first order
    grid = latest_grid()
    assert all(row_of(grid, day) == f"· {day.day:02d}" for day in before), grid
    assert f"· no data **{len(before)}**" in grid and "⬜ missing **2**" in grid, grid
    assert row_of(grid, first).startswith("⬜") and row_of(grid, WEEK[4]).startswith("⬜")  # not computed yet
    needs = grid[grid.index("## Needs attention") :]
    assert not any(str(day) in needs for day in before)
    failed = attention_line(grid, failing)
    cause = failed.split("|")[3].strip()
    assert cause.endswith("…") and len(cause) == 72 and state.message.split(": ", 1)[1].startswith(cause[:-1])
    assert failed.split("|")[4].strip().startswith(f"[backfill-{failing}..{WEEK[-1]}](")  # the run link is whole

    # what `revenue status` prints (its grid's days and statuses, rendered for a terminal)
    text = render_text(current_statuses(env, grid_days(env)))
    assert f"no data {len(before)}" in text and ". missing 2  " in text
    [line] = [line for line in text.splitlines() if line.startswith(f"  {failing}: failed: ")]
    assert "…" in line and len(line) <= 22 + 72 + len(" (flow run ") + 36 + 1
    assert not any(f"  {day}:" in text for day in before)

    # a landed file for a day before the source's first order: the data begins there now
    landed_day = WEEK[0]
    land_one_order(env, sqlite_env, "early-orders.csv", landed_day)
    grid = latest_grid()
    assert row_of(grid, landed_day).startswith("🟩")
    assert row_of(grid, WEEK[1]).startswith("⬜") and row_of(grid, WEEK[2]).startswith("⬜")  # after it: missing
    assert row_of(grid, landed_day - dt.timedelta(days=1)).startswith("·")
    assert f"· no data **{len(before) - 3}**" in grid and "⬜ missing **4**" in grid, grid
