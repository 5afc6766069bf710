"""A service outage is a failed-day alert only once Prefect's retries are spent: the
partition task asks ``last_attempt`` on each attempt, here through Prefect's engine."""

from __future__ import annotations

import pytest
from prefect import flow, task

from flows.partition_report import last_attempt
from testkit.waiting import wait_for


def test_only_the_attempt_without_a_retry_left_is_the_last():
    seen: list[bool] = []

    @task(retries=2, retry_delay_seconds=0)
    def flaky() -> None:
        seen.append(last_attempt())
        raise ConnectionError("the database is down")

    @flow
    def run_it() -> None:
        flaky(return_state=True)

    run_it()
    assert seen == [False, False, True]


def test_saved_destinations_load_back_by_name():
    """What `revenue alerts test` sends through: the destinations `revenue blocks create`
    saved, loaded back from the Prefect API by their document names."""
    import uuid

    from blocks.alerts import alert_destinations, load_destinations

    env = f"loadback-{uuid.uuid4().hex[:6]}"
    saved = alert_destinations(
        env,
        {
            "REVENUE_ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hook",
            "REVENUE_ALERT_SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/x",
        },
    )
    for name, block in saved.items():
        block.save(name, overwrite=True)
    loaded = load_destinations(env)
    assert sorted(loaded) == sorted(saved) == [f"{env}-alert-slack", f"{env}-alert-webhook"]
    assert {type(b).__name__ for b in loaded.values()} == {"CustomWebhookNotificationBlock", "SlackWebhook"}
    assert load_destinations(f"{env}-none") == {}


def _events(name: str, resource_id: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    with get_client(sync_client=True) as client:
        page = client.read_events(
            EventFilter(event=EventNameFilter(name=[name]), resource=EventResourceFilter(id=[resource_id])), limit=50
        )
    return page.events


def _wait_for(predicate, what: str, timeout: float = 30.0):
    return wait_for(predicate, timeout, what, interval=0.25)


def _alerting_environ(root, webhook: bool) -> dict[str, str]:
    """An embedded default in ``root`` with a deadline of 00:00:10 (yesterday is always past
    it) and, with ``webhook``, a destination (an address nothing listens on), so that saving
    it creates its automations."""
    from pathlib import Path

    from blocks.create import embedded_default_environ

    environ = {**embedded_default_environ(root), "REVENUE_ALERT_DEADLINE": "00:00:10"}
    if webhook:
        environ["REVENUE_ALERT_WEBHOOK_URL"] = "http://127.0.0.1:9/hook"
    for key in ("REVENUE_LAKE_URL", "REVENUE_RESULTS_URL", "REVENUE_LANDING_URL"):
        Path(environ[key]).mkdir(parents=True, exist_ok=True)
    return environ


def _alerting_environment(root, webhook: bool, env: str | None = None) -> str:
    import uuid

    from tests.integration.conftest import _save_environment

    return _save_environment(env or f"alerting-{uuid.uuid4().hex[:8]}", _alerting_environ(root, webhook))


def test_a_failure_with_nowhere_to_send_it_is_not_marked_alerted_and_pages_once_alerts_exist(tmp_path):
    """A day that failed before alerts were configured pages on its next failure once they
    are: nothing is marked alerted while no automation with a destination can send it."""
    from flows.alert_events import PARTITION_FAILED, alert_mark, emit_failed
    from revenue.io.activity import last_beat
    from revenue.io.environment import environment

    env = _alerting_environment(tmp_path, webhook=False)
    warehouse = environment(env).warehouse
    day, cause = "2026-03-02", "quality gate failed for raw_orders partition 2026-03-02: no rows"
    mark = alert_mark("failed", env, day, f"fp-1|{cause}")

    assert emit_failed(warehouse, env, day, cause, "fp-1", None) is False  # nowhere to send it
    assert last_beat(warehouse, mark) is None

    _alerting_environment(tmp_path, webhook=True, env=env)  # the operator sets a webhook
    assert emit_failed(warehouse, env, day, cause, "fp-1", None) is True  # the same failure, now deliverable
    assert last_beat(warehouse, mark) is not None
    assert emit_failed(warehouse, env, day, cause, "fp-1", None) is False  # and one message
    # two events, not one: the one with nowhere to go has an id of its own, else the server,
    # which remembers ids for a while, would drop the one an automation now sends
    _wait_for(lambda: len(_events(PARTITION_FAILED, f"revenue.partition.{env}.{day}")) == 2, "both failed events")


@pytest.mark.slow
def test_a_late_check_that_sent_no_message_is_not_resolved_when_the_day_publishes(tmp_path):
    """A fresh `revenue dev` after the deadline: the watcher's first pass sends yesterday's
    late check, the week's backfill publishes yesterday before the late-day automation's
    window ends, so no "late" message went out: no "resolved" may follow."""
    import datetime as dt

    from flows.alert_events import PARTITION_PUBLISHED, PARTITION_RECOVERED
    from flows.daily_revenue import daily_revenue
    from flows.landing_watcher import announce_due
    from revenue.io.environment import environment
    from tests.integration.helpers import seed_orders

    env = _alerting_environment(tmp_path, webhook=True)
    now = dt.datetime.now(dt.timezone.utc)
    yesterday = now.date() - dt.timedelta(days=1)
    seed_orders(env, [(1, "c1", 10.00, f"{yesterday} 10:00:00"), (2, "c2", 5.50, f"{yesterday} 11:00:00")])
    assert announce_due(env, environment(env), now, set()) == "never started"

    daily_revenue(partition_date=yesterday.isoformat(), env=env)
    resource = f"revenue.partition.{env}.{yesterday}"
    _wait_for(lambda: _events(PARTITION_PUBLISHED, resource), "the published event")
    assert _events(PARTITION_RECOVERED, resource) == []
