"""The push path's webhook template (``webhooks/``, ``revenue.webhook``), rendered with
Prefect's own user-template sandbox against Amazon's sample EventBridge "Object Created"
event (tests/data/eventbridge-object-created.json, from the S3 user guide's "EventBridge
event message structure"): the event it makes is the landing watcher's for the same object,
the on-landing trigger of prefect.yaml fires on it, and the key it passes resolves."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from urllib.parse import quote_plus

import pytest
from prefect.events import Event
from prefect.server.utilities.user_templates import render_user_template_sync, validate_user_template

from flows.landing_watcher import landed_event
from flows.served import runner_deployments
from revenue.io.landing.versions import LandedVersion
from revenue.io.landing.zone import RESERVED_PREFIXES, resolve_landed
from revenue.io.storage import S3Store
from revenue.webhook import WEBHOOKS, filled

SAMPLE = json.loads((Path(__file__).parents[1] / "data" / "eventbridge-object-created.json").read_text())
BUCKET = "revenue-landing"
ETAG = "b1946ac92492d2347c6235b4d2611184"

KEYS = [
    "orders-2026-03-05.csv",
    "2026 03 05 orders.csv",  # a space: "+" in the event
    "été/ventes 100%.csv",  # non-ASCII and a percent sign: "%C3%A9", "%25"
    "a+b=c&d;(1).csv",  # a plus sign is "%2B", so "+" alone is a space
    "日本/注文 🧾.csv",  # three- and four-byte UTF-8
]


def object_created(key: str, bucket: str = BUCKET, size: int = 1234) -> dict:
    """Amazon's sample with this bucket and key, the key URL-encoded as S3 sends it to
    EventBridge and to its notification queues ("+" for a space, "/" kept)."""
    body = copy.deepcopy(SAMPLE)
    body["detail"]["bucket"]["name"] = bucket
    body["detail"]["object"].update(key=quote_plus(key, safe="/"), size=size, etag=ETAG)
    return body


def rendered(body: dict, environment: str = "prod", prefix: str = "landing/", bucket: str = BUCKET) -> Event:
    template = filled("template", environment, bucket, prefix)
    validate_user_template(template)  # what Prefect checks when the webhook is saved
    headers = {"content-type": "application/json; charset=utf-8", "user-agent": "Amazon/EventBridge/ApiDestinations"}
    text = render_user_template_sync(template, {"body": body, "headers": headers, "method": "POST"})
    return Event.model_validate(json.loads(text))


def test_amazons_sample_as_it_is_makes_a_landed_event_of_the_whole_bucket():
    event = rendered(SAMPLE, prefix="", bucket="amzn-s3-demo-bucket1")
    assert event.id == uuid.UUID(SAMPLE["id"])  # EventBridge's id: a retried delivery is the same event
    assert event.event == "revenue.file.landed"
    assert event.resource.root == {
        "prefect.resource.id": "s3://amzn-s3-demo-bucket1/example-key",
        "prefect.resource.name": "example-key",
        "revenue.environment": "prod",
        "revenue.etag": "b1946ac92492d2347c6235b4d2611184",
        "revenue.size": "5",
    }
    assert event.payload["version_id"] == "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e"
    assert event.payload["sequencer"] == "617f08299329d189"


def test_a_key_as_eventbridge_encodes_it_is_decoded():
    # Amazon's sample with a key as S3 sends it (written by hand, not by quote_plus): "+" a
    # space, "%C3%A9" an "é", "%25" a "%", "%2B" a "+"
    body = json.loads((Path(__file__).parents[1] / "data" / "eventbridge-object-created-encoded-key.json").read_text())
    event = rendered(body)
    assert event.resource.id == "s3://revenue-landing/landing/2026 03 05 été 100% a+b.csv"
    assert event.resource.name == event.payload["key"] == "2026 03 05 été 100% a+b.csv"


@pytest.mark.parametrize("key", KEYS)
def test_the_webhooks_event_is_the_watchers_for_the_same_object(key: str):
    event = rendered(object_created(f"landing/{key}"))
    # The watcher's event also carries the landing's sequence in the registry, which only
    # the watcher knows: it is in its payload ("landing"), not among the resource's labels,
    # so both paths label a landed object alike.
    landed = LandedVersion(seq=41, uri=f"s3://{BUCKET}/landing/{key}", key=key, etag=ETAG, size=1234)
    watchers = landed_event(landed, "prod")
    assert event.event == watchers.event
    assert event.resource.id == watchers.resource.id == f"s3://{BUCKET}/landing/{key}"
    assert event.resource.name == watchers.resource.name == key
    assert event.resource.root == watchers.resource.root
    assert watchers.payload["landing"] == 41
    assert event.payload["key"] == key and event.payload["size"] == 1234


@pytest.mark.parametrize("key", KEYS[:3])
def test_the_on_landing_trigger_fires_and_its_key_resolves_to_the_object(key: str):
    from prefect.server.events.actions import RunDeployment
    from prefect.utilities.schema_tools.hydration import HydrationContext, hydrate

    event = rendered(object_created(f"landing/{key}"))
    [trigger] = {d.name: d for d in runner_deployments("prod")}["on-landing"].triggers
    assert event.event in trigger.expect
    assert trigger.match.matches(event.resource)
    assert not trigger.match.matches(rendered(object_created(f"landing/{key}"), "staging").resource)

    parameters = copy.deepcopy(trigger.parameters)  # rendered as the server's run-deployment action does
    RunDeployment._upgrade_v1_templates(parameters)
    parameters = hydrate(
        parameters, HydrationContext(raise_on_error=True, render_jinja=True, jinja_context={"event": event})
    )
    assert parameters == {"landed_key": f"s3://{BUCKET}/landing/{key}", "env": "prod"}

    found = resolve_landed(_s3_store({f"landing/{key}": 1234}), parameters["landed_key"])
    assert (found.key, found.uri, found.etag, found.size) == (key, f"s3://{BUCKET}/landing/{key}", ETAG, 1234)


@pytest.mark.parametrize("reserved", RESERVED_PREFIXES)
def test_the_pipelines_own_files_under_the_prefix_start_nothing(reserved: str):
    event = rendered(object_created(f"landing/{reserved}orders.csv.error.json"))
    assert event.event == "revenue.file.ignored"
    [trigger] = {d.name: d for d in runner_deployments("prod")}["on-landing"].triggers
    assert event.event not in trigger.expect


@pytest.mark.parametrize("bucket, key", [("another-bucket", "landing/orders.csv"), (BUCKET, "elsewhere/orders.csv")])
def test_an_object_outside_the_landing_bucket_or_prefix_starts_nothing(bucket: str, key: str):
    assert rendered(object_created(key, bucket=bucket)).event == "revenue.file.ignored"


def test_a_prefix_with_characters_to_escape_is_filled_as_a_string():
    prefix = 'dépôt "x"/'
    event = rendered(object_created(f"{prefix}orders 1.csv"), prefix=prefix)
    assert event.resource.name == "orders 1.csv"
    assert event.resource.id == f"s3://{BUCKET}/{prefix}orders 1.csv"


def test_the_rule_matches_object_created_in_the_bucket_under_the_encoded_prefix():
    rule = json.loads(filled("rule", "prod", BUCKET, "landing zone/"))
    assert rule == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [BUCKET]}, "object": {"key": [{"prefix": "landing+zone/"}]}},
    }


def test_the_self_hosted_transformer_posts_an_event_list():
    transformer = json.loads(filled("transformer", "prod", BUCKET, "landing/"))
    sample = object_created("landing/orders-2026-03-05.csv")
    text = transformer["InputTemplate"]
    for name, path in transformer["InputPathsMap"].items():  # what EventBridge substitutes
        value = sample
        for step in path.removeprefix("$.").split("."):
            value = value[step]
        text = text.replace(f"<{name}>", str(value))
    [event] = [Event.model_validate(e) for e in json.loads(text)]
    landed = LandedVersion(
        seq=1, uri=f"s3://{BUCKET}/landing/orders-2026-03-05.csv", key="orders-2026-03-05.csv", etag=ETAG, size=1234
    )
    watchers = landed_event(landed, "prod")
    assert event.resource.id == watchers.resource.id
    # no name: a transformer cannot cut the landing prefix off the key
    assert {k: v for k, v in event.resource.root.items() if k != "prefect.resource.name"} == {
        k: v for k, v in watchers.resource.root.items() if k != "prefect.resource.name"
    }


def test_the_placeholders_are_all_filled():
    for part in ("template", "rule", "transformer"):
        assert "__REVENUE_" not in filled(part, "prod", BUCKET, "landing/")
    assert {p.name for p in WEBHOOKS.iterdir()} >= {"revenue-file-landed.json.j2", "eventbridge-rule.json"}


def _s3_store(objects: dict[str, int]) -> S3Store:
    """An ``S3Store`` of ``BUCKET``/landing whose client answers HEAD for ``objects`` (full
    keys) only, as S3 does: a key passed encoded, or with its prefix twice, is no object."""
    from botocore.exceptions import ClientError

    class Client:
        def head_object(self, Bucket: str, Key: str) -> dict:
            if Bucket == BUCKET and Key in objects:
                return {"ContentLength": objects[Key], "ETag": f'"{ETAG}"'}
            raise ClientError({"Error": {"Code": "404"}}, "HeadObject")

    store = S3Store.__new__(S3Store)
    store.bucket, store.folder, store._client = BUCKET, "landing", Client()
    return store
