"""The push path end to end, AWS aside: ``revenue webhook-template`` prints the webhook
template of an S3 environment (Postgres, moto's S3); rendered by Prefect's own sandbox on an
EventBridge "Object Created" event for a file whose key S3 URL-encodes (a space, a non-ASCII
character, a percent sign), it makes the event whose trigger-rendered ``landed_key`` runs
the day; the same event posted to a Prefect server's ``POST /api/events`` (the self-hosted
path, which has no webhooks) is stored once however often EventBridge retries it."""

from __future__ import annotations

import datetime as dt
import json
import time
from decimal import Decimal

import httpx

from flows.daily_revenue import daily_revenue
from revenue.io.environment import environment
from tests.integration.helpers import published, seed_orders
from tests.integration.test_cli import revenue
from tests.integration.test_landing_keys import CSV, DAY, trigger_parameters
from tests.unit.test_webhook import object_created

KEY = "2026 03 05 été 100%.csv"


def rendered_by_the_webhook(template: str, body: dict):
    from prefect.events import Event
    from prefect.server.utilities.user_templates import render_user_template_sync, validate_user_template

    validate_user_template(template)
    text = render_user_template_sync(template, {"body": body, "headers": {}, "method": "POST"})
    return Event.model_validate(json.loads(text))


def test_the_printed_template_turns_an_eventbridge_event_into_a_run_of_the_day(pg_env, s3_bucket):
    seed_orders(pg_env, [])
    env = environment(pg_env)
    stored = env.landing.put(KEY, CSV.format(id=1, amount="12.34").encode())

    printed = revenue("webhook-template", "--env", pg_env)
    assert printed.returncode == 0, printed.stderr
    body = object_created(f"landing/{KEY}", bucket=s3_bucket, size=stored.size)
    body["detail"]["object"]["etag"] = stored.etag
    event = rendered_by_the_webhook(printed.stdout, body)
    assert event.resource.id == env.landing.uri(KEY)

    parameters = trigger_parameters(pg_env, event)
    assert parameters == {"landed_key": env.landing.uri(KEY), "env": pg_env}
    state = daily_revenue(**parameters, return_state=True)
    assert state.is_completed(), state.message
    assert published(pg_env, "daily_revenue", DAY)["revenue"].tolist() == [Decimal("12.34")]

    rule = revenue("webhook-template", "--env", pg_env, "--part", "rule")
    assert json.loads(rule.stdout)["detail"] == {
        "bucket": {"name": [s3_bucket]},
        "object": {"key": [{"prefix": "landing/"}]},
    }


def test_an_environment_without_an_s3_landing_has_no_webhook_template(sqlite_env):
    result = revenue("webhook-template", "--env", sqlite_env)
    assert result.returncode == 1
    ours = [line for line in result.stderr.splitlines() if line.startswith("revenue ")]
    # (Prefect's own exit line "EventsWorker - Still processing items" may follow)
    assert ours == [
        "revenue webhook-template: error: the push path needs an S3 landing block "
        "(REVENUE_LANDING_URL=s3://bucket/prefix)"
    ]
    assert result.stdout == ""


def test_the_rendered_event_posted_to_api_events_is_stored_once_per_eventbridge_id():
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventIDFilter, EventOccurredFilter
    from prefect.settings import PREFECT_API_URL

    from revenue.webhook import filled

    event = rendered_by_the_webhook(
        filled("template", "selfhosted", "landing-bucket", "in/"), object_created(f"in/{KEY}", "landing-bucket")
    )
    api = (PREFECT_API_URL.value() or "").rstrip("/")
    body = [event.model_dump(mode="json")]
    for _ in range(2):  # EventBridge retries a delivery with the same event, and so the same id
        response = httpx.post(f"{api}/events", json=body, timeout=30)
        assert response.status_code == 204, response.text

    since = event.occurred - dt.timedelta(minutes=1)
    query = EventFilter(id=EventIDFilter(id=[event.id]), occurred=EventOccurredFilter.model_validate({"since": since}))
    deadline = time.monotonic() + 60
    with get_client(sync_client=True) as client:
        while not (found := client.read_events(query, limit=10).events) and time.monotonic() < deadline:
            time.sleep(0.2)  # polled until the server has stored it (its events pipeline is asynchronous)
        found = client.read_events(query, limit=10).events
    assert [e.id for e in found] == [event.id]
    [stored] = found
    assert stored.event == "revenue.file.landed"
    assert stored.resource.root == event.resource.root
    assert stored.resource.id == f"s3://landing-bucket/in/{KEY}" and stored.resource.name == KEY
