"""Alert destinations (notification blocks) and the automations of ``alerts.yaml``.

Destinations, per environment ``NAME``, from settings (``revenue.settings``) at ``revenue blocks create``:

- ``REVENUE_ALERT_WEBHOOK_URL`` -> ``custom-webhook/NAME-alert-webhook``: a JSON POST
  ``{"subject": ..., "body": ..., "source": "revenue NAME"}``; the URL is kept among the
  block's secrets (it often holds a token), never in a plain field;
- ``REVENUE_ALERT_SLACK_WEBHOOK_URL`` -> ``slack-webhook/NAME-alert-slack``;
- ``REVENUE_ALERT_PAGERDUTY_INTEGRATION_KEY`` and ``REVENUE_ALERT_PAGERDUTY_API_KEY`` ->
  ``pager-duty-webhook/NAME-alert-pagerduty``.

Every automation of ``alerts.yaml`` is created (or updated in place, by its name
``revenue NAME: <key>``) with one notification action per destination. Nothing here logs or
returns a URL or key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

import yaml
from prefect.blocks.core import Block
from pydantic import SecretStr

from revenue import settings
from revenue.deadline import parse_deadline
from revenue.errors import ConfigurationError
from revenue.placeholders import fill

if TYPE_CHECKING:
    from prefect.blocks.abstract import NotificationBlock

ALERTS_YAML = Path(__file__).resolve().parents[1] / "alerts.yaml"
DEFAULT_WATCHER_SILENCE = settings.ALERT_WATCHER_SILENCE.default


def alert_destinations(env: str, environ: Mapping[str, str]) -> dict[str, Block]:
    """The environment's notification blocks, unsaved, by block document name."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock, PagerDutyWebHook, SlackWebhook
    from prefect.types import SecretDict

    destinations: dict[str, Block] = {}
    webhook = settings.ALERT_WEBHOOK_URL.value(environ)
    slack = settings.ALERT_SLACK_WEBHOOK_URL.value(environ)
    if webhook:
        destinations[f"{env}-alert-webhook"] = CustomWebhookNotificationBlock(
            name=f"revenue {env}",
            url="{{url}}",
            json_data={"subject": "{{subject}}", "body": "{{body}}", "source": "{{name}}"},
            headers=None,
            cookies=None,
            secrets=SecretDict({"url": webhook}),
        )
    if slack:
        destinations[f"{env}-alert-slack"] = SlackWebhook(url=SecretStr(slack))
    keys = (settings.ALERT_PAGERDUTY_INTEGRATION_KEY, settings.ALERT_PAGERDUTY_API_KEY)
    pagerduty = [key.value(environ) or "" for key in keys]
    if any(pagerduty):
        if not all(pagerduty):
            raise ConfigurationError(f"PagerDuty alerts need both {keys[0].name} and {keys[1].name}")
        destinations[f"{env}-alert-pagerduty"] = PagerDutyWebHook(
            integration_key=SecretStr(pagerduty[0]), api_key=SecretStr(pagerduty[1]), notify_type="failure"
        )
    return destinations


DEFAULT_DEADLINE = parse_deadline(settings.ALERT_DEADLINE.default)


def _clock(duration: dt.timedelta) -> str:
    seconds = int(duration.total_seconds())
    text = f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"
    return text + (f":{seconds % 60:02d}" if seconds % 60 else "")


def automation_specs(
    env: str, silence: dt.timedelta, deadline: dt.timedelta = DEFAULT_DEADLINE, path: Path = ALERTS_YAML
) -> list[dict[str, Any]]:
    """alerts.yaml's automations with the environment's values filled in."""
    document = yaml.safe_load(path.read_text())
    from revenue.deadline import last_look

    window = last_look(deadline)
    values = {
        "ENV": env,
        "WATCHER_SILENCE_SECONDS": str(int(silence.total_seconds())),
        "DEADLINE": _clock(deadline),
        "LAST_LOOK_SECONDS": str(int(window.total_seconds())),
    }
    return [fill(spec, values, f"{path.name}: automation {spec.get('key')!r}") for spec in document["automations"]]


def automation_name(env: str, key: str) -> str:
    return f"revenue {env}: {key}"


def sync_automations(
    env: str,
    destination_ids: list[UUID],
    silence: dt.timedelta = DEFAULT_WATCHER_SILENCE,
    deadline: dt.timedelta = DEFAULT_DEADLINE,
    path: Path = ALERTS_YAML,
) -> list[str]:
    """Create or update every automation of alerts.yaml for ``env``, each notifying every
    destination (block document ids); any duplicate of a name is deleted. Returns the names."""
    from prefect.client.orchestration import get_client
    from prefect.events import TriggerTypes
    from prefect.events.actions import SendNotification
    from prefect.events.schemas.automations import AutomationCore
    from pydantic import TypeAdapter

    trigger_type = TypeAdapter(TriggerTypes)
    names = []
    with get_client(sync_client=True) as client:
        for spec in automation_specs(env, silence, deadline, path):
            name = automation_name(env, spec["key"])
            trigger = dict(spec["trigger"])
            trigger["within"] = int(trigger.get("within") or 0)
            automation = AutomationCore(
                name=name,
                description=spec.get("description", ""),
                enabled=True,
                trigger=trigger_type.validate_python(trigger),
                actions=[
                    SendNotification(block_document_id=block_id, subject=spec["subject"], body=spec["body"])
                    for block_id in destination_ids
                ],
            )
            existing = client.read_automations_by_name(name)
            if existing:
                automation.enabled = existing[0].enabled  # one paused in the UI stays paused
                client.update_automation(existing[0].id, automation)
                for duplicate in existing[1:]:
                    client.delete_automation(duplicate.id)
            else:
                client.create_automation(automation)
            names.append(name)
    return names


DESTINATION_TYPES = {
    "alert-webhook": "custom-webhook",
    "alert-slack": "slack-webhook",
    "alert-pagerduty": "pager-duty-webhook",
}


def load_destinations(env: str) -> dict[str, NotificationBlock]:
    """The environment's saved notification blocks, by block document name."""
    found: dict[str, NotificationBlock] = {}
    for suffix, slug in DESTINATION_TYPES.items():
        name = f"{env}-{suffix}"
        try:
            found[name] = cast("NotificationBlock", Block.load(f"{slug}/{name}"))
        except ValueError:  # no such block document
            continue
    return found


def delivery_error(error: BaseException) -> str:
    """Why a destination refused a message, without the URL (which may hold a token) or the
    notifier's log text."""
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    return f"HTTP {status}" if status else type(error).__name__


def remove_automations(env: str) -> list[str]:
    """Delete the environment's automations (it has no destination any more)."""
    from prefect.client.orchestration import get_client

    removed = []
    with get_client(sync_client=True) as client:
        for automation in client.read_automations():
            if automation.name.startswith(automation_name(env, "")):
                client.delete_automation(automation.id)
                removed.append(automation.name)
    return removed


def send_test_message(env: str) -> dict[str, str]:
    """A test message through every destination of ``env``: ``accepted`` or why not. Apprise
    blocks (Slack, PagerDuty) report a refusal only under ``raise_on_failure``."""
    from contextlib import nullcontext

    outcomes = {}
    for name, block in load_destinations(env).items():
        strict = block.raise_on_failure() if hasattr(block, "raise_on_failure") else nullcontext()
        try:
            with strict:
                block.notify(  # type: ignore[unused-coroutine]  # sync_compatible: runs here, synchronously
                    body=f"Test message from the revenue pipeline, environment {env}: alerts reach you.",
                    subject=f"[revenue {env}] test",
                )
            outcomes[name] = "accepted"
        except Exception as error:  # reported per destination, never with its URL
            outcomes[name] = f"refused ({delivery_error(error)})"
    return outcomes
