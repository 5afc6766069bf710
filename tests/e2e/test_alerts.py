"""Alerts end to end: a real ``prefect server`` (its automations and notifications run in
it), a webhook receiver on loopback, and the ``revenue`` CLI as an operator runs it.

A day whose gate fails is one message naming the day and its cause, however often it is
re-run; the day publishing later is one "resolved" message; a stopped landing watcher is one
message; ``blocks create`` twice leaves one automation of each kind; ``revenue alerts test``
says whether the destination accepted; the webhook's URL (with its token) appears in no
output, log, artifact or error."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from testkit.services import live_prefect_server
from testkit.webhook import Receiver
from tests.e2e.test_deployments import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DAY = dt.date(2026, 3, 2)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    home = tmp_path_factory.mktemp("alerts")
    receiver = Receiver()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "REVENUE_", "AWS_"))}
    with live_prefect_server(home, base) as api:
        environ = {
            **base,
            "PREFECT_API_URL": api,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "REVENUE_HOME": str(home / ".revenue"),
            "REVENUE_ALERT_WEBHOOK_URL": receiver.url,
            "REVENUE_ALERT_WATCHER_SILENCE": "20s",
            "REVENUE_ALERT_DEADLINE": "00:00:20",
            "PYTHONPATH": str(ROOT),
        }
        yield home, api, environ, receiver
    receiver.server.shutdown()


OUTPUT: list[str] = []


def revenue(environ: dict, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    OUTPUT.append(done.stdout + done.stderr)
    return done


def automations(api: str, name_prefix: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api}), get_client(sync_client=True) as client:
        return [a for a in client.read_automations() if a.name.startswith(name_prefix)]


def server_events(api: str, name: str, resource_id: str, since: dt.datetime) -> list:
    """Events ``name`` of ``resource_id`` the server holds that occurred since ``since``."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter, EventResourceFilter
    from prefect.settings import PREFECT_API_URL, temporary_settings

    query = EventFilter(
        occurred=EventOccurredFilter.model_validate({"since": since, "until": dt.datetime.now(dt.timezone.utc)}),
        event=EventNameFilter(name=[name]),
        resource=EventResourceFilter(id=[resource_id]),
    )
    with temporary_settings({PREFECT_API_URL: api}), get_client(sync_client=True) as client:
        return client.read_events(query, limit=10).events


def barrier(api: str, receiver: Receiver, kind: str) -> None:
    """Send a ``revenue.partition.<kind>`` event of its own through the server's automations
    and wait for its message: a second message about what came before it would have come
    by then (what a fixed sleep stood for)."""
    from prefect.events import Event
    from prefect.events.schemas.events import Resource
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.landing_watcher import send_event

    name = f"barrier-{uuid.uuid4().hex[:8]}"
    resource = {"prefect.resource.id": f"revenue.partition.alerting.{name}", "revenue.environment": "alerting"}
    payload = {"environment": "alerting", "day": name, "cause": "barrier", "run_url": ""}
    payload |= {"was": "barrier", "revenue": "0.00", "order_count": 0}
    with temporary_settings({PREFECT_API_URL: api}):
        send_event(Event(event=f"revenue.partition.{kind}", resource=Resource(resource), payload=payload))
    wait_for(lambda: receiver.about(f"{name} "), 60, f"the {kind} message of {name}", 0.5)


def test_a_failed_day_is_one_message_and_its_recovery_one_more(stack):
    home, api, environ, receiver = stack
    for _ in range(2):
        created = revenue(environ, "blocks", "create", "--env", "alerting", "--local", str(home / "alerting"))
        assert created.returncode == 0, created.stderr[-2000:]
    kinds = sorted(a.name for a in automations(api, "revenue alerting:"))
    assert kinds == [
        "revenue alerting: failed-day",
        "revenue alerting: landing-not-watched",
        "revenue alerting: late-day",
        "revenue alerting: recovered",
    ]

    source = sa.create_engine(f"sqlite:///{home / 'alerting' / 'source.db'}")
    import pandas as pd

    from revenue.io.orders_table import create_orders_table, load_orders

    create_orders_table(source)
    load_orders(
        source,
        pd.DataFrame(
            {
                "order_id": [1, 2],
                "customer_id": [None, None],
                "amount": [10.0, 5.5],
                "order_date": pd.to_datetime([f"{DAY} 10:00:00", f"{DAY} 11:00:00"], utc=True),
            }
        ),
    )
    for _ in range(2):  # the same failure twice: one message
        failed = revenue(environ, "run", "--date", DAY.isoformat(), "--env", "alerting")
        assert failed.returncode == 1, failed.stdout + failed.stderr
    [message] = wait_for(lambda: receiver.about(f"{DAY} failed"), 60, "the failed-day message")
    assert "quality gate failed for cleaned_orders" in message["body"] and "alerting" in message["body"]
    assert "/runs/flow-run/" in message["body"]
    barrier(api, receiver, "failed")
    assert len(receiver.about(f"{DAY} failed")) == 1, receiver.messages

    with source.begin() as connection:
        connection.execute(sa.text("UPDATE orders SET customer_id = 'c-' || order_id"))
    source.dispose()
    published = revenue(environ, "run", "--date", DAY.isoformat(), "--env", "alerting")
    assert published.returncode == 0, published.stderr[-2000:]
    [resolved] = wait_for(lambda: receiver.about(f"{DAY} resolved"), 60, "the resolved message")
    assert "15.50" in resolved["body"] and "2 orders" in resolved["body"]
    again = revenue(environ, "run", "--date", DAY.isoformat(), "--env", "alerting", "--force")
    assert again.returncode == 0
    barrier(api, receiver, "recovered")
    assert len(receiver.about(f"{DAY} resolved")) == 1 and len(receiver.about(f"{DAY} failed")) == 1


SILENCE_MESSAGE_AT: list[float] = []


def test_a_stopped_watcher_is_one_message(stack):
    home, api, environ, receiver = stack
    started = dt.datetime.now(dt.timezone.utc)
    watcher = subprocess.Popen(
        [sys.executable, "-m", "cli", "watch", "--env", "alerting", "--interval", "1"],
        cwd=ROOT,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    def first_heartbeat() -> list:
        if watcher.poll() is not None:
            raise AssertionError(f"the watcher exited: {watcher.communicate()[0][-2000:]}")
        return server_events(api, "revenue.landing.checked", "revenue.landing-watcher.alerting", started)

    # its first pass sends the heartbeat event the silence is measured from
    wait_for(first_heartbeat, 180, "the watcher's first heartbeat event", 0.5)
    watcher.send_signal(signal.SIGINT)
    OUTPUT.append(watcher.communicate(timeout=60)[0])
    message = wait_for(lambda: receiver.about("landing zone not watched"), 120, "the watcher-silence message", 1)[0]
    SILENCE_MESSAGE_AT.append(time.monotonic())
    assert "revenue watch --env alerting" in message["body"]


def test_a_late_day_is_one_message_saying_what_was_last_seen_and_its_publish_resolves_it(stack):
    """The deadline is 00:00:20 UTC here: yesterday is late as soon as the watcher says it
    closed (the watcher of the test above already did, or this pass does)."""
    import pandas as pd

    from revenue.io.orders_table import load_orders

    home, api, environ, receiver = stack
    yesterday = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    source = sa.create_engine(f"sqlite:///{home / 'alerting' / 'source.db'}")
    load_orders(
        source,
        pd.DataFrame(
            {
                "order_id": [101, 102],
                "customer_id": ["a", "b"],
                "amount": [3.0, 4.25],
                "order_date": pd.to_datetime([f"{yesterday} 08:00:00", f"{yesterday} 09:00:00"], utc=True),
            }
        ),
    )
    source.dispose()
    assert revenue(environ, "watch", "--env", "alerting", "--once").returncode == 0
    late = wait_for(lambda: receiver.about(f"{yesterday} late"), 120, "the late-day message", 2)[0]
    assert "not published by 00:00:20 UTC" in late["body"] and "Last seen at " in late["body"]
    assert " UTC: never started" in late["body"]

    published = revenue(environ, "run", "--date", yesterday.isoformat(), "--env", "alerting")
    assert published.returncode == 0, published.stderr[-2000:]
    resolved = wait_for(lambda: receiver.about(f"{yesterday} resolved"), 60, "the resolved message", 2)[0]
    assert "it was not published by 00:00:20 UTC" in resolved["body"] and "7.25" in resolved["body"]
    assert revenue(environ, "watch", "--env", "alerting", "--once").returncode == 0  # published: not due
    barrier(api, receiver, "recovered")
    assert len(receiver.about(f"{yesterday} late")) == 1 and len(receiver.about(f"{yesterday} resolved")) == 1


def test_alerts_test_reports_delivery_and_no_secret_leaks(stack):
    home, api, environ, receiver = stack
    sent = revenue(environ, "alerts", "test", "--env", "alerting")
    assert sent.returncode == 0 and "alerting-alert-webhook: accepted" in sent.stdout, sent.stdout + sent.stderr
    assert receiver.about("alerts reach you")
    receiver.status = 500
    refused = revenue(environ, "alerts", "test", "--env", "alerting")
    receiver.status = 200
    assert refused.returncode == 1 and "alerting-alert-webhook: refused (HTTP 500)" in refused.stdout

    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api}), get_client(sync_client=True) as client:
        artifacts = [str(a.data) for a in client.read_artifacts()]
        runs = [str(r.state.message if r.state else "") for r in client.read_flow_runs()]
        logs = [log.message for log in client.read_logs()]
    for text in [*OUTPUT, *artifacts, *runs, *logs]:
        assert receiver.token not in text
    assert receiver.token not in (home / ".revenue" / "environments" / "alerting.json").read_text()


def test_each_watcher_silence_stayed_one_message(stack):
    """A silence that repeated would send its second message one silence (20 s) after the
    first, plus the proactive evaluation's period (5 s): checked here, once the tests in
    between have let that time pass (it waits only for what remains of it). Each
    ``watch --once`` of the tests in between is a watcher that stopped too: one message
    per silence, told apart by the last heartbeat each names."""
    import re

    home, api, environ, receiver = stack
    if not SILENCE_MESSAGE_AT:
        pytest.skip("runs after test_a_stopped_watcher_is_one_message")
    time.sleep(max(0.0, SILENCE_MESSAGE_AT[0] + 20 + 10 - time.monotonic()))
    last = [re.search(r"\(last: (.*?), watching", m["body"]) for m in receiver.about("landing zone not watched")]
    heartbeats = [found.group(1) if found else "" for found in last]
    assert heartbeats and len(set(heartbeats)) == len(heartbeats), heartbeats
