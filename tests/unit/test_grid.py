"""The partition grid's rendering: colours, gaps, the lines of days that need a look."""

from __future__ import annotations

import datetime as dt

from revenue.grid import GridContext, RunLink, render_markdown, render_text, weeks
from revenue.status import PartitionStatus

MONDAY = dt.date(2026, 3, 2)


def day(offset: int, state: str = "materialized", detail: str = "", **extra) -> PartitionStatus:
    return PartitionStatus(MONDAY + dt.timedelta(days=offset), state, detail, **extra)


CONTEXT = GridContext(
    "prod",
    dt.datetime(2026, 3, 10, 6, 0, 5),
    "daily-revenue-2026-03-09",
    landing_checked_at=dt.datetime(2026, 3, 10, 5, 59, 30),
    lineage="orders → cleaned_orders",
)


def test_each_day_has_its_colour_and_orders_and_the_tally_counts_them():
    statuses = [
        day(0, order_count=10_012),
        day(1, "warned", "warnings in cleaned_orders", order_count=1_523),
        day(2, "stale", "source rows changed", run_id="r-2"),
        day(3, "missing"),
        day(4, "failed", "quality gate failed for cleaned_orders: 0 of 204 rows valid", run_id="r-4"),
        day(5, "running", run_id="r-5"),
    ]
    text = render_markdown(statuses, CONTEXT, {"r-4": RunLink("daily-revenue-2026-03-06", "/runs/flow-run/r-4")})
    assert "| 2026-03-02 | 🟩 02 · 10k | 🟨 03 · 1.5k | 🟧 04 | ⬜ 05 | 🟥 06 | 🔵 07 |  |" in text
    assert (
        "🟩 materialized **1** · 🟨 warned **1** · 🟧 stale **1** · "
        "⬜ missing **1** · 🟥 failed **1** · 🔵 running **1**" in text
    )
    assert (
        "| 2026-03-06 | 🟥 failed | quality gate failed for cleaned_orders: 0 of 204 rows valid | "
        "[daily-revenue-2026-03-06](/runs/flow-run/r-4) |"
    ) in text
    assert "| 2026-03-04 | 🟧 stale | source rows changed | r-2 |" in text
    assert "| 2026-03-07 | 🔵 running | computing now | r-5 |" in text
    assert "2026-03-05 | ⬜" not in text  # missing without a cause: the cell says it all
    assert "landing zone last checked 2026-03-10 05:59:30 UTC" in text
    assert "by daily-revenue-2026-03-09" in text and "Lineage: orders → cleaned_orders" in text
    # failed first, then stale, then running
    assert text.index("| 2026-03-06 | 🟥") < text.index("| 2026-03-04 | 🟧") < text.index("| 2026-03-07 | 🔵")


def test_a_day_far_from_the_window_is_shown_after_a_gap_not_a_year_of_empty_weeks():
    statuses = [day(-364, "failed", "boom"), day(0), day(8)]
    rows = weeks(statuses)
    assert [r[0] if r else None for r in rows] == [
        MONDAY - dt.timedelta(days=364),
        None,
        MONDAY,
        MONDAY + dt.timedelta(days=7),
    ]
    assert render_markdown(statuses, CONTEXT).count("| ⋯ |") == 1


def test_a_cause_with_a_pipe_or_newline_keeps_the_table_intact():
    text = render_markdown([day(0, "failed", "a | b\nsecond line")], CONTEXT)
    assert "| a \\| b second line |" in text


def test_the_terminal_grid_has_symbols_the_tally_and_causes():
    text = render_text([day(0), day(1, "failed", "boom", run_id="r-1")], dt.datetime(2026, 3, 10, 6))
    assert "2026-03-02    02#  03X" in text
    assert "# materialized 1  ! warned 0  ~ stale 0  . missing 0  X failed 1  > running 0" in text
    assert "  2026-03-03: failed: boom (flow run r-1)" in text
    assert "landing zone last checked 2026-03-10 06:00:00 UTC" in text
    assert render_text([]) == "no partitions"


def test_a_long_cause_is_cut_so_the_table_fits_and_the_run_link_stays_visible():
    cause = "quality gate failed for cleaned_orders partition 2026-03-02: " + "x" * 300
    text = render_markdown(
        [day(0, "failed", cause, run_id="r-0")], CONTEXT, {"r-0": RunLink("run-0", "/runs/flow-run/r-0")}
    )
    [line] = [line for line in text.splitlines() if line.startswith("| 2026-03-02 | 🟥 failed")]
    assert "…" in line and len(line.split("|")[3].strip()) == 140
    assert line.endswith("| [run-0](/runs/flow-run/r-0) |")


def test_a_day_whose_run_stopped_without_finishing_shows_its_published_state_and_the_stopped_run():
    stopped = dt.datetime(2026, 3, 9, 13, 2, 11)
    note = "run r-9 stopped without finishing (killed, crashed or cancelled; last sign of life ...)"
    statuses = [day(0, order_count=10), day(1, "materialized", note, run_id="r-9", stopped_at=stopped, order_count=12)]
    text = render_markdown(statuses, CONTEXT, {"r-9": RunLink("backfill-2026-03-02..2026-03-08", "/runs/flow-run/r-9")})
    assert "| 2026-03-02 | 🟩 02 · 10 | 🟩 03 · 12 |" in text  # its published state, not running
    assert "🔵 running **0**" in text
    assert f"| 2026-03-03 | 🟩 materialized | {note} | [backfill-2026-03-02..2026-03-08](/runs/flow-run/r-9) |" in text
    terminal = render_text(statuses)
    assert f"  2026-03-03: materialized: {note} (flow run r-9)" in terminal
    assert "> running 0" in terminal
