"""A service outage is a failed-day alert only once Prefect's retries are spent: the
partition task asks ``_last_attempt`` on each attempt, here through Prefect's engine."""

from __future__ import annotations

from prefect import flow, task

from flows.partition import _last_attempt


def test_only_the_attempt_without_a_retry_left_is_the_last():
    seen: list[bool] = []

    @task(retries=2, retry_delay_seconds=0)
    def flaky() -> None:
        seen.append(_last_attempt())
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
