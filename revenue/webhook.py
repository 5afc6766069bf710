"""The push path for landed files without a watcher: S3 -> EventBridge ("Object Created") ->
a Prefect Cloud webhook whose template (``webhooks/revenue-file-landed.json.j2``) turns the
EventBridge event into the ``revenue.file.landed`` event the landing watcher sends
(``flows.landing_watcher.landed_event``). The files under ``webhooks/`` hold placeholders
for the environment and its landing block; ``filled`` prints them filled
(``revenue webhook-template --env NAME``).

- ``template``: the webhook template (Jinja2, rendered by Prefect Cloud with ``body`` the
  EventBridge event, ``headers`` and ``method``).
- ``rule``: the EventBridge rule's event pattern: Object Created in the landing bucket,
  under the landing prefix. EventBridge matches the key as S3 sends it, URL-encoded like an
  S3 notification (``quote_plus``, ``/`` kept), so the prefix is encoded the same way.
- ``transformer``: for a self-hosted server reachable from AWS (no webhooks), an API
  destination input transformer posting the event list to ``/api/events``. It cannot decode
  the key nor tell the pipeline's own files apart: only keys S3 sends as they are (letters,
  digits, ``/ - _ . *``) reach a run as a URI it can resolve.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote_plus

from revenue.errors import ConfigurationError
from revenue.io.storage import ObjectStore, S3Store

WEBHOOKS = Path(__file__).resolve().parents[1] / "webhooks"
PARTS = {
    "template": "revenue-file-landed.json.j2",
    "rule": "eventbridge-rule.json",
    "transformer": "self-hosted-input-transformer.json",
}
ENVIRONMENT = "__REVENUE_ENVIRONMENT__"
BUCKET = "__REVENUE_LANDING_BUCKET__"
PREFIX = "__REVENUE_LANDING_PREFIX__"


def landing_location(landing: ObjectStore | None) -> tuple[str, str]:
    """The landing store's bucket and key prefix (``folder/``, or empty for a whole bucket);
    ``ConfigurationError`` for a landing that is no S3 bucket (EventBridge sees only S3)."""
    if not isinstance(landing, S3Store) or not landing.bucket:
        raise ConfigurationError("the push path needs an S3 landing block (REVENUE_LANDING_URL=s3://bucket/prefix)")
    folder = landing.folder
    return landing.bucket, f"{folder}/" if folder else ""


def _literal(value: str, part: str) -> str:
    """``value`` as the inside of a double-quoted string of the part (JSON, or a Jinja
    string literal, which takes JSON's escapes); for the transformer, whose template is
    itself a JSON string, escaped twice."""
    text = json.dumps(value, ensure_ascii=False)[1:-1]
    return json.dumps(text, ensure_ascii=False)[1:-1] if part == "transformer" else text


def filled(part: str, environment: str, bucket: str, prefix: str) -> str:
    """The text of ``part`` (``template``, ``rule`` or ``transformer``) with the environment,
    the landing bucket and the landing prefix filled in."""
    text = (WEBHOOKS / PARTS[part]).read_text()
    encoded_prefix = quote_plus(prefix, safe="/")  # as EventBridge sees the key
    return (
        text.replace(ENVIRONMENT, _literal(environment, part))
        .replace(BUCKET, _literal(bucket, part))
        .replace(PREFIX, _literal(encoded_prefix if part == "rule" else prefix, part))
    )
