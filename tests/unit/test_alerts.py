"""Alert pieces without a server: deadlines, when a publish resolves an alert, the watcher's
last look, alerts.yaml filled per environment, destinations keeping URLs secret."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import httpx
import pytest

from blocks.alerts import alert_destinations, automation_specs, delivery_error
from flows import landing_watcher
from flows.alert_events import recovery
from revenue.deadline import due_at, last_look, parse_deadline
from revenue.settings import ALERT_WATCHER_SILENCE

UTC = dt.timezone.utc
DAY = dt.date(2026, 3, 1)


def test_deadlines_parse_and_invalid_ones_say_why():
    assert parse_deadline("07:30") == dt.timedelta(hours=7, minutes=30)
    assert parse_deadline("00:00:20") == dt.timedelta(seconds=20)
    assert due_at(DAY, "07:30") == dt.datetime(2026, 3, 2, 7, 30, tzinfo=UTC)
    assert last_look("07:30") == dt.timedelta(minutes=2) and last_look("00:00:20") == dt.timedelta(seconds=20)
    for bad in ("7.30", "24:00", "07:61", "soon"):
        with pytest.raises(ValueError, match="not a"):
            parse_deadline(bad)


@pytest.mark.parametrize(
    "was, now, alerted, expected",
    [
        ("failed", dt.datetime(2026, 6, 1, tzinfo=UTC), "failed-day", "its last attempt had failed"),
        ("failed", dt.datetime(2026, 6, 1, tzinfo=UTC), None, None),  # failed with nowhere to send it
        ("failed", dt.datetime(2026, 6, 1, tzinfo=UTC), "resolved", None),  # resolved already
        ("missing", dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC), "late-day", "it was not published by 07:30 UTC"),
        # the late check went out but its publish came in time: no "late" message, no "resolved"
        ("missing", dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC), None, None),
        ("missing", dt.datetime(2026, 3, 2, 7, 0, tzinfo=UTC), "late-day", None),  # before its deadline
        ("missing", dt.datetime(2026, 4, 1, tzinfo=UTC), "late-day", None),  # an old day is not news
        ("materialized", dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC), "late-day", None),
        (None, dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC), "late-day", None),
    ],
)
def test_a_publish_resolves_only_what_was_alerted(was, now, alerted, expected):
    assert recovery(was, DAY, "07:30", now, alerted) == expected


def test_the_watcher_looks_at_yesterday_once_just_before_its_deadline(monkeypatch):
    sent, statuses, marks = [], {"state": "missing"}, {}
    monkeypatch.setattr(landing_watcher, "send_event", sent.append)
    monkeypatch.setattr(landing_watcher, "beat", lambda warehouse, name, detail=None: marks.__setitem__(name, detail))
    monkeypatch.setattr(landing_watcher, "last_beat", lambda warehouse, name: marks.get(name))
    monkeypatch.setattr(landing_watcher, "deliverable", lambda config, key: key == "late-day")
    import revenue.status

    monkeypatch.setattr(
        revenue.status,
        "current_statuses",
        lambda env, days: [SimpleNamespace(partition=days[0], state=statuses["state"], detail="x", run_id=None)],
    )
    env = SimpleNamespace(block=SimpleNamespace(alert_deadline="07:30"), warehouse=None)
    seen: set = set()
    at = lambda h, m: dt.datetime(2026, 3, 2, h, m, tzinfo=UTC)  # noqa: E731
    assert landing_watcher.announce_due("prod", env, at(7, 27), seen) is None and not sent  # too early
    assert landing_watcher.announce_due("prod", env, at(7, 28), seen) == "never started"
    assert landing_watcher.announce_due("prod", env, at(7, 29), seen) is None  # once a day
    assert landing_watcher.announce_due("prod", env, at(7, 29), set()) is None  # even from a new process (cron)
    [event] = sent
    assert event.event == "revenue.partition.due" and event.payload["day"] == "2026-03-01"
    assert event.payload["seen_at"] == "07:28:00 UTC"  # how old "last seen" is when the message goes out
    assert event.resource["revenue.environment"] == "prod"
    statuses["state"] = "materialized"  # the next day is published in time: nothing is sent
    assert landing_watcher.announce_due("prod", env, dt.datetime(2026, 3, 3, 7, 29, tzinfo=UTC), seen) is None
    assert len(sent) == 1


def test_every_automation_is_filled_for_the_environment():
    specs = {s["key"]: s for s in automation_specs("prod", ALERT_WATCHER_SILENCE.value({}), parse_deadline("06:45"))}
    assert set(specs) == {"failed-day", "late-day", "recovered", "landing-not-watched"}
    assert all(s["trigger"].get("match", {}).get("revenue.environment", "prod") == "prod" for s in specs.values())
    assert specs["late-day"]["trigger"]["within"] == "120" and "06:45 UTC" in specs["late-day"]["body"]
    assert specs["landing-not-watched"]["trigger"]["within"] == "900"
    assert ALERT_WATCHER_SILENCE.value({"REVENUE_ALERT_WATCHER_SILENCE": "90s"}) == dt.timedelta(seconds=90)


def test_destinations_keep_urls_and_keys_secret():
    url = "https://hooks.example.com/services/T0/B0/secret-token"
    blocks = alert_destinations(
        "prod",
        {
            "REVENUE_ALERT_WEBHOOK_URL": url,
            "REVENUE_ALERT_SLACK_WEBHOOK_URL": url,
            "REVENUE_ALERT_PAGERDUTY_INTEGRATION_KEY": "pd-key",
            "REVENUE_ALERT_PAGERDUTY_API_KEY": "pd-api",
        },
    )
    assert set(blocks) == {"prod-alert-webhook", "prod-alert-slack", "prod-alert-pagerduty"}
    webhook = blocks["prod-alert-webhook"]
    assert webhook.url == "{{url}}" and webhook.secrets.get_secret_value() == {"url": url}
    for block in blocks.values():
        assert "secret-token" not in repr(block) and "pd-key" not in repr(block)
    error = httpx.HTTPStatusError("boom", request=httpx.Request("POST", url), response=httpx.Response(500))
    assert delivery_error(error) == "HTTP 500"


def _orders_per_day(db) -> dict[dt.date, int]:
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT substr(order_date, 1, 10), count(*), count(DISTINCT order_id) FROM orders GROUP BY 1")
        )
        counts = {dt.date.fromisoformat(day): (n, distinct) for day, n, distinct in rows}
        ids = connection.execute(sa.text("SELECT count(*), count(DISTINCT order_id) FROM orders")).one()
    engine.dispose()
    assert ids[0] == ids[1], "order ids collide"
    return {day: n for day, (n, _) in counts.items()}


def test_dev_seeds_the_days_it_publishes_after_a_demo(tmp_path):
    """`make demo` then `make dev`: the demo's week is other days, so the source is not
    empty; `revenue dev` still loads demo orders into every day of its window that has none
    (else each day of its week fails its raw gate and pages), and only those."""
    import sqlalchemy as sa

    from cli import dev
    from revenue.demo_data import generate_orders
    from revenue.io.orders_table import create_orders_table, load_orders

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'source.db'}")
    create_orders_table(engine)
    load_orders(engine, generate_orders(dt.date(2026, 3, 1), dt.date(2026, 3, 7), 5))  # what `revenue demo` loads
    engine.dispose()
    today = dt.date(2026, 12, 3)
    window = [today - dt.timedelta(days=n) for n in range(dev.DEMO_DAYS, 0, -1)]

    assert dev.seed_demo_days(tmp_path, 5, today) == window
    counts = _orders_per_day(tmp_path / "source.db")
    assert all(counts.get(day, 0) > 0 for day in window) and counts[dt.date(2026, 3, 1)] == 5

    assert dev.seed_demo_days(tmp_path, 5, today) == []  # a restart loads nothing more
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'source.db'}")
    with engine.begin() as connection:  # a day emptied by hand is loaded again, alone
        connection.execute(sa.text("DELETE FROM orders WHERE substr(order_date, 1, 10) = :day"), {"day": "2026-12-01"})
    engine.dispose()
    assert dev.seed_demo_days(tmp_path, 5, dt.date(2026, 12, 4)) == [dt.date(2026, 12, 1), dt.date(2026, 12, 3)]
    assert _orders_per_day(tmp_path / "source.db")[dt.date(2026, 12, 2)] == counts[dt.date(2026, 12, 2)]


def test_a_late_check_with_no_late_day_automation_sends_and_marks_nothing(monkeypatch):
    """Alerts not configured yet: the late check is not recorded as done, so the day's late
    check still goes out once they are (the same day, from the next watcher)."""
    sent, marks = [], {}
    monkeypatch.setattr(landing_watcher, "send_event", sent.append)
    monkeypatch.setattr(landing_watcher, "beat", lambda warehouse, name, detail=None: marks.__setitem__(name, detail))
    monkeypatch.setattr(landing_watcher, "last_beat", lambda warehouse, name: marks.get(name))
    deliverable = {"late-day": False}
    monkeypatch.setattr(landing_watcher, "deliverable", lambda config, key: deliverable[key])
    import revenue.status

    monkeypatch.setattr(
        revenue.status,
        "current_statuses",
        lambda env, days: [SimpleNamespace(partition=days[0], state="missing", detail="", run_id=None)],
    )
    env = SimpleNamespace(block=SimpleNamespace(alert_deadline="07:30"), warehouse=None)
    at = dt.datetime(2026, 3, 2, 7, 29, tzinfo=UTC)
    landing_watcher.announce_due("prod", env, at, set())
    assert sent == [] and marks == {}
    deliverable["late-day"] = True  # the operator sets a destination and restarts the watcher
    landing_watcher.announce_due("prod", env, at, set())
    assert [e.event for e in sent] == ["revenue.partition.due"] and list(marks) == ["alert-due-prod-2026-03-01"]


def test_a_late_message_waits_for_a_publish_or_a_failure_and_dates_what_it_last_saw():
    """A day that fails within the late check's window is the failed-day message (with its
    cause), not a "late" one saying what it was before; "Last seen" carries its time."""
    late = {s["key"]: s for s in automation_specs("prod", ALERT_WATCHER_SILENCE.value({}))}["late-day"]
    assert set(late["trigger"]["expect"]) == {"revenue.partition.published", "revenue.partition.failed"}
    assert "event.payload.seen_at" in late["body"]


def test_the_dev_banner_says_which_alert_destinations_are_on_and_when_a_restart_removed_them(tmp_path):
    from cli import dev

    url = "https://hooks.example.com/services/T0/B0/secret-token"
    environ = {
        "REVENUE_ALERT_WEBHOOK_URL": url,
        "REVENUE_ALERT_PAGERDUTY_INTEGRATION_KEY": "pd-key",
        "REVENUE_ALERT_PAGERDUTY_API_KEY": "pd-api",
    }
    names = [f"revenue local: {key}" for key in ("failed-day", "late-day", "recovered", "landing-not-watched")]
    on = dev.alerts_summary("local", dev.destination_labels("local", environ), {}, dict.fromkeys(names, True))
    assert on.startswith("alerts on: webhook, PagerDuty") and "secret-token" not in on and "pd-" not in on
    paused = dev.alerts_summary(
        "local", ["Slack"], dict.fromkeys(names, True), {**dict.fromkeys(names, True), names[0]: False}
    )
    assert "paused in the UI: failed-day" in paused

    removed = dev.alerts_summary("local", dev.destination_labels("local", {}), dict.fromkeys(names, True), {})
    assert removed.startswith("alerts OFF") and "4 automations" in removed and "removed" in removed
    assert dev.alerts_summary("local", [], {}, {}).startswith("alerts off")

    options = dev.DevOptions(port=4200, env="local", home=tmp_path, state_home=tmp_path)
    text = dev.banner(options, "http://ui", "http://ui/api", False, [], [], alerts=on)
    assert "  alerts on: webhook, PagerDuty" in text and url not in text
