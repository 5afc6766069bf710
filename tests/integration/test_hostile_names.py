"""A landed file named to be markup, through real runs (issue 23, observations 4 and 6): its
landing run, the grid the landing watcher redraws once the file is replaced, the backfill
plan, all read back from Prefect and rendered as the UI would; and ``revenue status`` as an
operator runs it. The name reads as itself everywhere, and is never an image, a link, a
table column or a terminal command."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.sorting import ArtifactSort
from prefect.settings import get_current_settings

from flows.backfill import backfill
from flows.daily_revenue import daily_revenue
from flows.landing_watcher import watch
from revenue.io.environment import environment
from revenue.untrusted import one_line
from testkit.markup import assert_only_our_markup
from tests.integration.helpers import seed_orders
from tests.integration.test_cli import revenue

DAY = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=3)  # inside the grid's window
NAME = "x<img src=evil.png onerror=alert(1)>![t](evil.png)a](javascript:alert(1))|col`tick`.csv"
"""A file name holds no slash (the images' addresses are relative: an image all the same) and
no control character (the landing key rule refuses one: ``test_landing_keys.py``)."""
S3_NAME = "<img src=https:evil.example/x.png>![t](https:evil.example/y.png)a](javascript:alert(1))|x `y`.csv"
"""An S3 key holds slashes (not two in a row: the landing's key rule refuses them, but a
browser reads ``https:evil.example`` as ``https://evil.example``) and no control character
(moto's XML listing cannot carry one)."""
ROW = "order_id,customer_id,amount,order_date\n{id},zed,{amount},{day}T10:00:00Z\n"


def latest(key: str):
    with get_client(sync_client=True) as client:
        [artifact] = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), sort=ArtifactSort.CREATED_DESC, limit=1
        )
    return artifact


def run_name(run_id) -> str:
    with get_client(sync_client=True) as client:
        [run] = client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
    return run.name


def attention_rows(grid: str) -> list[str]:
    return [line for line in grid.split("## Needs attention")[1].splitlines() if line.startswith("|")]


def test_a_file_named_as_markup_reads_as_its_name_in_the_grid_the_plan_and_the_terminal(sqlite_env):
    env = environment(sqlite_env)
    seed_orders(sqlite_env, [(1, "a", 10.0, f"{DAY} 09:00:00")])
    landing = Path(env.landing.uri().removeprefix("file://"))
    (landing / NAME).write_text(ROW.format(id=990001, amount="12.50", day=DAY))

    state = daily_revenue(landed_key=NAME, env=sqlite_env, return_state=True)
    assert state.is_completed(), state.message
    name = run_name(state.state_details.flow_run_id)
    assert name.startswith("landing-x%3Cimg src=evil.png onerror=alert%281%29%3E") and not re.search(
        r"[<>\[\]()|`\x1b]", name
    )

    # the run is renamed through the API (anyone may: run names are read back from a shared
    # service) and the file replaced: the watcher's pass sees the day stale and redraws the
    # grid, whose line names the file (the cause, cut to fit) and that run, linked
    with get_client(sync_client=True) as client:
        client.update_flow_run(state.state_details.flow_run_id, name=NAME)
    (landing / NAME).write_text(ROW.format(id=990001, amount="99.00", day=DAY))
    watch(sqlite_env, interval=0, passes=1)
    grid = latest("partition-status").data
    [line] = [row for row in attention_rows(grid) if row.startswith(f"| {DAY} |")]
    assert "🟧 stale" in line and "landed file file:///" in line, grid
    ui = (get_current_settings().ui_url or "").rstrip("/")
    assert_only_our_markup(grid, one_line(NAME), links=[f"{ui}/runs/flow-run/{state.state_details.flow_run_id}"])
    assert len(re.split(r"(?<!\\)\|", line.replace("\\\\", ""))) == 6  # no pipe of the name adds a column

    # the plan of a backfill over the day names the file (its URI, percent-encoded) in its reason
    backfill(start=DAY.isoformat(), end=DAY.isoformat(), env=sqlite_env, plan_only=True)
    plan = latest("backfill-plan")
    assert_only_our_markup(plan.data, "landing/x%3Cimg%20src%3Devil.png")
    assert_only_our_markup(plan.description or "", "1 to compute")


def test_an_s3_key_named_as_markup_and_escapes_reads_as_itself_in_artifacts_and_on_the_terminal(
    pg_env, s3_bucket, s3_endpoint
):
    """An S3 key may hold what a file name cannot (slashes, so absolute image addresses), and
    its URI is not encoded: the plan and the grid escape it; the terminal shows it as it is."""
    from tests.integration.conftest import s3_client

    key = f"landing/{S3_NAME}"
    seed_orders(pg_env, [(1, "a", 10.0, f"{DAY} 09:00:00")])
    s3 = s3_client(s3_endpoint)
    s3.put_object(Bucket=s3_bucket, Key=key, Body=ROW.format(id=990001, amount="12.50", day=DAY).encode())
    state = daily_revenue(landed_key=f"s3://{s3_bucket}/{key}", env=pg_env, return_state=True)
    assert state.is_completed(), state.message
    s3.put_object(Bucket=s3_bucket, Key=key, Body=ROW.format(id=990001, amount="99.00", day=DAY).encode())
    watch(pg_env, interval=0, passes=1)

    grid = latest("partition-status").data
    [line] = [row for row in attention_rows(grid) if row.startswith(f"| {DAY} |")]
    assert "🟧 stale" in line, grid
    ui = (get_current_settings().ui_url or "").rstrip("/")
    run_link = [f"{ui}/runs/flow-run/{state.state_details.flow_run_id}"]
    assert_only_our_markup(grid, f"landed file s3://{s3_bucket}/landing/<img", links=run_link)
    backfill(start=DAY.isoformat(), end=DAY.isoformat(), env=pg_env, plan_only=True)
    assert_only_our_markup(
        latest("backfill-plan").data, one_line(f"stale: landed file s3://{s3_bucket}/{key} replaced")
    )

    status = revenue("status", "--start", str(DAY), "--end", str(DAY), "--env", pg_env)
    plan = revenue("backfill", "--plan", "--start", str(DAY), "--end", str(DAY), "--env", pg_env)
    assert status.returncode == 0 and plan.returncode == 0, status.stderr[-2000:] + plan.stderr[-2000:]
    assert f"landed file s3://{s3_bucket}/landing/<img src=https:evil" in status.stdout  # cut to fit a line
    assert f"stale: landed file s3://{s3_bucket}/{key} replaced" in plan.stdout
