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
    shown = line.split("|")[3].strip()
    assert shown.endswith("…") and len(shown) == 72 and shown.startswith(cause[:60])
    assert line.endswith("| [run-0](/runs/flow-run/r-0) |")


def test_a_long_cause_is_cut_in_the_terminal_too_with_the_run_id_whole():
    cause = "quality gate failed for raw_orders partition 2026-03-02: " + "y" * 300
    run_id = "7f0c1a2b-1111-2222-3333-444455556666"
    text = render_text([day(0, "failed", cause, run_id=run_id), day(1, "stale", "source rows changed")])
    [line] = [line for line in text.splitlines() if line.startswith("  2026-03-02: failed: ")]
    shown = line.removeprefix("  2026-03-02: failed: ").removesuffix(f" (flow run {run_id})")
    assert shown.endswith("…") and len(shown) == 72 and shown.startswith(cause[:60])
    assert len(line) <= 22 + 72 + len(f" (flow run {run_id})")
    assert "  2026-03-03: stale: source rows changed" in text  # a short cause is left whole


def test_days_before_the_first_order_are_quiet_no_data_cells_not_missing_and_need_no_attention():
    statuses = [
        day(0, "no data"),
        day(1, "no data"),
        day(2, "missing", "published rows without a ledger record"),
        day(3, "missing"),
        day(4, "failed", "boom", run_id="r-4"),
    ]
    text = render_markdown(statuses, CONTEXT)
    assert "| 2026-03-02 | · 02 | · 03 | ⬜ 04 | ⬜ 05 | 🟥 06 |  |  |" in text
    assert "⬜ missing **2**" in text and "· no data **2**" in text
    needs = text[text.index("## Needs attention") :]
    assert "2026-03-02" not in needs and "2026-03-03" not in needs and "| 2026-03-04 | ⬜ missing |" in needs

    terminal = render_text(statuses)
    assert "2026-03-02    02   03   04.  05.  06X" in terminal
    assert ". missing 2" in terminal and "no data 2" in terminal
    assert "2026-03-02:" not in terminal and "2026-03-03:" not in terminal


def test_no_data_is_shown_only_when_some_day_has_none():
    text = render_markdown([day(0), day(1, "missing")], CONTEXT)
    assert "no data" not in text and "no data" not in render_text([day(0), day(1, "missing")])


def test_only_unrecorded_days_before_the_first_order_are_no_data():
    from revenue.status import no_data_before

    first = MONDAY + dt.timedelta(days=3)
    statuses = [
        day(0, "missing"),  # before the first order, nothing recorded: no data
        day(1, "missing", "published rows without a ledger record"),  # something was there
        day(2, "failed", "quality gate failed for raw_orders", run_id="r-2"),  # a run tried it
        day(3, "missing"),  # the first order's day
        day(4, "missing"),  # a day without orders after the first order: missing
        day(5, "materialized"),
    ]
    assert [s.state for s in no_data_before(first, statuses)] == [
        "no data",
        "missing",
        "failed",
        "missing",
        "missing",
        "materialized",
    ]
    # no order anywhere (an empty source, no landed file): every unrecorded day
    assert [s.state for s in no_data_before(None, statuses)] == [
        "no data",
        "missing",
        "failed",
        "no data",
        "no data",
        "materialized",
    ]


def test_a_day_whose_run_stopped_without_finishing_shows_its_published_state_and_the_stopped_run():
    stopped = dt.datetime(2026, 3, 9, 13, 2, 11)
    note = "run r-9 stopped unfinished at 2026-03-09 13:02 UTC"
    statuses = [day(0, order_count=10), day(1, "materialized", note, run_id="r-9", stopped_at=stopped, order_count=12)]
    text = render_markdown(statuses, CONTEXT, {"r-9": RunLink("backfill-2026-03-02..2026-03-08", "/runs/flow-run/r-9")})
    assert "| 2026-03-02 | 🟩 02 · 10 | 🟩 03 · 12 |" in text  # its published state, not running
    assert "🔵 running **0**" in text
    assert f"| 2026-03-03 | 🟩 materialized | {note} | [backfill-2026-03-02..2026-03-08](/runs/flow-run/r-9) |" in text
    terminal = render_text(statuses)
    assert f"  2026-03-03: materialized: {note} (flow run r-9)" in terminal
    assert "> running 0" in terminal
