"""Names a landing zone supplies are shown as text: in the markdown of every artifact (the
grid, the quality report, the backfill plan and summaries), in run names, in alerts and on
the terminal (issue 23, observations 4, 5 and 6).

Markdown is checked as a browser would get it (``testkit.markup``: rendered with raw HTML
allowed, as both Prefect UIs allow it), for elements the pipeline did not make."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest

from revenue.backfill_plan import PlannedDay
from revenue.backfill_plan import render_markdown as plan_markdown
from revenue.backfill_plan import render_text as plan_text
from revenue.grid import GridContext, RunLink
from revenue.grid import render_markdown as grid_markdown
from revenue.grid import render_text as grid_text
from revenue.quality import ExpectationOutcome, GateResult
from revenue.quality.render import StageLine, render_partition
from revenue.status import PartitionStatus
from revenue.untrusted import (
    alert_text,
    markdown_link,
    markdown_table,
    markdown_text,
    one_line,
    run_name_text,
    terminal_text,
)
from testkit.markup import assert_only_our_markup as assert_rendered_as_text

DAY = dt.date(2026, 3, 4)
HOSTILE = [
    "<img src=x onerror=alert(1)>.csv",
    "<img src=http://evil.example/x.png>.csv",
    "![t](http://evil.example/x.png).csv",
    "a](javascript:alert(1)).csv",
    "[Fix it here](http://evil.example).csv",
    "pipe|and`backtick`.csv",
    "line\nbreak\r\n# heading.csv",
    "<script>alert(1)</script>.csv",
    "**bold** _em_ ~~gone~~ &amp; &lt;b&gt;.csv",
    "back\\slash\\|pipe.csv",
]
RUN_URL = "http://127.0.0.1:4200/runs/flow-run/0b7e8f0c-6c1e-4b4e-9a51-3a8f0c6d2f11"


def assert_only_our_markup(markdown: str, name: str, links: tuple[str, ...] = ()) -> None:
    assert_rendered_as_text(markdown, one_line(name), links)


def table_widths(markdown: str) -> set[int]:
    rows = [line for line in markdown.splitlines() if line.startswith("|")]
    return {len(re.split(r"(?<!\\)\|", row.replace("\\\\", ""))) for row in rows}


@pytest.mark.parametrize("name", HOSTILE)
def test_the_grid_shows_a_hostile_file_name_as_text_and_keeps_the_run_link(name):
    statuses = [
        PartitionStatus(DAY, "stale", f"new landed file file:///landing/{name}", run_id="r-1"),
        PartitionStatus(DAY + dt.timedelta(days=1), "failed", f"landed file {name}: unreadable", run_id="r-2"),
    ]
    runs = {"r-1": RunLink(f"landing-{name}", RUN_URL), "r-2": RunLink(f"landing-{name}", None)}
    context = GridContext("prod", dt.datetime(2026, 3, 10, 6, 0), updated_by=f"landing-{name}")
    markdown = grid_markdown(statuses, context, runs)
    assert_only_our_markup(markdown, f"landing-{name}", links=(RUN_URL,))
    assert len(table_widths(markdown.split("## Needs attention")[1])) == 1  # no pipe adds a column


@pytest.mark.parametrize("name", HOSTILE)
def test_the_quality_report_and_its_description_show_a_hostile_name_as_text(name):
    headline = f"failed: landed file {name}: wrong columns"
    sample = ExpectationOutcome(
        expectation="expect_column_values_to_not_be_null(customer_id)",
        severity="critical",
        success=False,
        raised=None,
        unexpected_count=2,
        unexpected_sample=[name, "ok"],
    )
    raised = ExpectationOutcome(
        expectation="expect_column_values_to_be_between(amount)",
        severity="critical",
        success=False,
        raised=f"cannot compare {name}",
        unexpected_count=None,
        unexpected_sample=[],
    )
    from revenue.quality.render import quality_description

    results = [GateResult("raw_orders", DAY, (sample, raised), max_failure_severity="critical")]
    markdown = render_partition(DAY, headline, [StageLine("raw_orders", "3", 5, "failed")], results)
    assert_only_our_markup(markdown, name[:60])
    assert_only_our_markup(quality_description(DAY, headline), name)
    assert len(table_widths(markdown.split("### ")[1])) == 1


@pytest.mark.parametrize("name", HOSTILE)
def test_the_backfill_plan_shows_a_hostile_name_as_text(name):
    days = [
        PlannedDay(DAY, "compute", f"stale: new landed file file:///landing/{name}", 1200),
        PlannedDay(DAY + dt.timedelta(days=1), "skip", "current"),
    ]
    markdown = plan_markdown(days, 4)
    assert_only_our_markup(markdown, name)
    assert len(table_widths(markdown)) == 1
    assert "\x1b" not in plan_text([PlannedDay(DAY, "compute", "stale: \x1b[2Jfake", 1)], 4)


@pytest.mark.parametrize("name", HOSTILE)
def test_a_summary_table_shows_a_hostile_name_as_text(name):
    markdown = markdown_table([{"partition": "2026-03-04", "outcome": "failed", "error": f"landed file {name}"}])
    assert_only_our_markup(markdown, name)
    assert len(table_widths(markdown)) == 1


def test_a_link_the_pipeline_makes_keeps_its_address_whatever_its_name():
    assert markdown_link("a](javascript:alert(1))", RUN_URL) == f"a\\]\\(javascript:alert\\(1\\)\\) ([open]({RUN_URL}))"
    assert markdown_link("landing-orders_1.csv", RUN_URL) == f"[landing-orders_1.csv]({RUN_URL})"
    hostile = "a](javascript:alert(1))"
    assert_only_our_markup(markdown_link(hostile, RUN_URL), hostile, links=(RUN_URL,))
    assert markdown_link("run", "javascript:alert(1)") == "run"  # no address but ours is a link
    assert markdown_link("run", "http://ui/x(1)") == "[run](http://ui/x%281%29)"


def test_ordinary_names_read_as_they_are():
    assert markdown_text("orders_2026-03-01.csv") == "orders_2026-03-01.csv"
    assert markdown_text("quality gate failed for cleaned_orders: 0 of 204 rows") == (
        "quality gate failed for cleaned_orders: 0 of 204 rows"
    )
    assert run_name_text("orders 2026-03-01.csv") == "orders 2026-03-01.csv"
    assert run_name_text("commandes-été.csv") == "commandes-été.csv"


@pytest.mark.parametrize("name", HOSTILE + ["<!channel>.csv", "<@U024BE7LH>.csv", "a\x1b[2J\x07.csv"])
def test_a_run_name_carries_no_markup_and_no_control_character(name):
    label = run_name_text(name)
    assert not set(label) & set("<>[]()!|`*#&\\\n\r\x1b\x07"), label
    assert len(run_name_text("x" * 500)) <= 81


def test_a_landed_files_run_is_named_by_its_file_without_markup(monkeypatch):
    from flows import daily_revenue

    run = type("Run", (), {"parameters": {"landed_key": "landing/<!channel>x.csv"}})
    monkeypatch.setattr(daily_revenue, "flow_run", run)
    assert daily_revenue.run_name() == "landing-%3C%21channel%3Ex.csv"


def test_control_characters_never_reach_the_terminal():
    key = "landing/a\x1b]52;c;ZXZpbA==\x07b\x1b[2J\x1b[1;1Hfake\r\x9b31m\u202egpj.csv"
    for text in (
        terminal_text(f"error: {key}\nsecond line"),
        grid_text([PartitionStatus(DAY, "failed", f"landed file {key}: unreadable", run_id="r\x1b[2J")]),
        plan_text([PlannedDay(DAY, "compute", f"stale: new landed file {key}", 10)], 4),
    ):
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]", text), repr(text)
        assert "\\x1b]52" in text  # shown, not hidden: the operator sees the key is odd
    assert terminal_text("a\nb\tc") == "a\nb\tc"


@pytest.mark.parametrize(
    "mention", ["<!channel>", "<!here|here>", "<@U024BE7LH>", "<https://evil.example|Fix it here>", "<#C123>"]
)
def test_alert_text_has_no_slack_markup(mention):
    text = alert_text(f"landed file {mention}.csv: unreadable & broken [x](http://evil.example)")
    assert "<" not in text and ">" not in text
    assert "&lt;" in text and "&amp;" in text and "](" not in text


def test_an_alert_carries_at_most_about_500_characters_and_points_to_the_run():
    text = alert_text("wrong header: " + "col," * 30_000, RUN_URL)
    assert len(text) < 600
    assert text.endswith(f"… (full text on the run: {RUN_URL})")
    assert alert_text("short", RUN_URL) == "short"


def _failed_day_event(cause: str):
    from prefect.events.schemas.events import ReceivedEvent, Resource

    from flows.alert_events import failed_payload, partition_resource

    return ReceivedEvent(
        event="revenue.partition.failed",
        resource=Resource(partition_resource("prod", DAY.isoformat())),
        payload=failed_payload("prod", DAY.isoformat(), cause, None),
        occurred=dt.datetime.now(dt.timezone.utc),
        received=dt.datetime.now(dt.timezone.utc),
    )


def _rendered_alert(key: str, cause: str) -> tuple[str, str]:
    """alerts.yaml's ``key`` automation, its subject and body rendered by Prefect's own
    template renderer for the failed-day event of ``cause``."""
    from prefect.server.utilities.user_templates import render_user_template_sync

    from blocks.alerts import automation_specs
    from revenue.settings import ALERT_WATCHER_SILENCE

    [spec] = [s for s in automation_specs("prod", ALERT_WATCHER_SILENCE.value({})) if s["key"] == key]
    context = {"event": _failed_day_event(cause)}
    return render_user_template_sync(spec["subject"], context), render_user_template_sync(spec["body"], context)


@pytest.mark.parametrize(
    "name",
    [
        "<!channel>.csv",
        "<@U024BE7LH>.csv",
        "<https://evil.example|Fix it here>.csv",
        "[Fix it here](http://evil.example).csv",
    ],
)
def test_the_failed_day_alert_as_prefect_renders_it_has_no_mention_and_no_disguised_link(name):
    subject, body = _rendered_alert("failed-day", f"landed file s3://bucket/landing/{name}: unreadable")
    assert "<!" not in body and "<@" not in body and "<http" not in body and "](" not in body, body
    assert html.unescape(body).count(name.replace("](", "] (")) == 1  # still names the file


def test_the_failed_day_alert_of_a_117k_character_error_stays_small():
    _, body = _rendered_alert("failed-day", "landed file x.csv: header: " + "c" * 117_000)
    assert len(body) < 1000 and "full text on the run" in body


def test_slack_gets_no_live_mention_from_a_file_name(monkeypatch):
    """Through Prefect's Slack block (apprise), the HTTP request captured: the escaped
    cause stays text (apprise turns an unescaped ``<!channel>`` into a live mention)."""
    import json

    import requests
    from prefect.blocks.notifications import SlackWebhook
    from pydantic import SecretStr

    sent: list[dict] = []

    class Accepted:
        status_code, content, text, headers = 200, b"ok", "ok", {}

    def post(method, url, *args, **kwargs):
        sent.append(json.loads(kwargs.get("data") or "{}"))
        return Accepted()

    monkeypatch.setattr(requests, "request", post)
    _, body = _rendered_alert("failed-day", "landed file <!channel> <@U024BE7LH> <https://evil.example|Fix it>.csv")
    SlackWebhook(url=SecretStr("https://hooks.slack.com/services/T000/B000/XXXX")).notify(body=body, subject="s")
    [message] = sent
    text = json.dumps(message)
    assert "<!channel" not in text and "<@U024" not in text and "<https://evil" not in text, text


KEY = "landing/a\x1b]52;c;ZXZpbA==\x07b\x1b[2J\x1b[1;1Hfake\r\x9b31m.csv"


def test_revenue_status_prints_a_hostile_key_without_escape_sequences(monkeypatch, capsys):
    """``revenue status`` as its entry point runs it (the environment and the statuses
    faked): the day's line names the key with its escapes shown, none sent."""
    import revenue.io.activity
    import revenue.status
    from cli import commands, main

    env = type("Env", (), {"landing": None})()
    monkeypatch.setattr(commands, "_readable_environment", lambda config: env)
    monkeypatch.setattr(revenue.status, "grid_days", lambda env: [DAY])
    failed = PartitionStatus(DAY, "failed", f"{KEY}: unreadable", run_id="0b7e8f0c")
    monkeypatch.setattr(revenue.status, "current_statuses", lambda env, days: [failed])
    monkeypatch.setattr(revenue.io.activity, "last_beat", lambda warehouse, name: None)
    assert main.main(["status", "--env", "prod"]) == 0
    out = capsys.readouterr().out
    assert "landing/a\\x1b]52;c;ZXZpbA==\\x07b\\x1b[2J\\x1b[1;1Hfake" in out
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", out), repr(out)


def test_a_command_failing_on_a_hostile_key_says_so_without_escape_sequences(monkeypatch, capsys):
    from cli import commands, main

    def fails(args):
        raise ValueError(f"landed file {KEY}: no such object")

    monkeypatch.setattr(commands, "status", fails)
    assert main.main(["status", "--env", "prod"]) == 1
    err = capsys.readouterr().err
    assert "\\x1b]52" in err and not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", err), repr(err)
