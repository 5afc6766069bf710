"""Parsing S3 notifications one message at a time (plain dicts, no queue), and how the queue
is polled (a stand-in client)."""

from __future__ import annotations

import json

import pytest

from revenue.errors import ConfigurationError
from revenue.io.landing.queue import (
    DRAIN_WAIT_SECONDS,
    WAIT_SECONDS,
    LandingQueue,
    MalformedMessage,
    files_of,
    wait_seconds_from_environment,
)

BUCKET, FOLDER = "bucket", "landing"


def uri(key: str) -> str:
    return f"s3://{BUCKET}/{FOLDER}/{key}"


def record(key: str, event: str = "ObjectCreated:Put", bucket: str = BUCKET, **obj) -> dict:
    s3 = {"bucket": {"name": bucket}, "object": {"key": key, "eTag": "e", "size": 3, **obj}}
    return {"eventName": event, "s3": s3}


def test_keys_are_decoded_once_and_foreign_or_reserved_records_are_ignored():
    body = {
        "Records": [
            record("landing/my+orders%2B1.csv"),
            record("landing/x.csv", event="ObjectRemoved:Delete"),
            record("landing/y.csv", bucket="other"),
            record("elsewhere/z.csv"),
            record("landing/_errors/z.csv.error.json"),
            record("landing/folder/"),
        ]
    }
    [landed] = files_of(body, BUCKET, FOLDER, uri)
    assert (landed.key, landed.uri, landed.etag, landed.size) == ("my orders+1.csv", uri("my orders+1.csv"), "e", 3)
    assert files_of({"Service": "Amazon S3", "Event": "s3:TestEvent"}, BUCKET, FOLDER, uri) == []
    sns = {"Type": "Notification", "Message": json.dumps({"Records": [record("landing/a.csv")]})}
    assert [f.key for f in files_of(sns, BUCKET, FOLDER, uri)] == ["a.csv"]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ([1], "not an object"),
        ({"Hello": 1}, "no Records list"),
        ({"Records": "x"}, "no Records list"),
        ({"Records": ["x"]}, "not an S3 event record"),
        ({"Records": [record("landing/a.csv", size="big")]}, "no object size"),
        ({"Records": [record("landing/a.csv", eTag="")]}, "no object key or ETag"),
        ({"Records": [record("landing//etc/passwd")]}, "an absolute path"),
        ({"Records": [record("landing/a%0A.csv")]}, "a control character"),
        ({"Type": "Notification", "Message": "{nope"}, "not JSON"),
    ],
)
def test_a_malformed_message_says_why(body, why: str):
    with pytest.raises(MalformedMessage, match=why):
        files_of(body, BUCKET, FOLDER, uri)


class Store:
    bucket, folder = BUCKET, FOLDER

    @staticmethod
    def uri(key: str = "") -> str:
        return uri(key)


class Client:
    """Answers receives from ``batches`` in turn (then nothing), recording each WaitTimeSeconds."""

    def __init__(self, batches: list[list[str]]) -> None:
        self.batches, self.waits = batches, []

    def receive_message(self, QueueUrl: str, MaxNumberOfMessages: int, WaitTimeSeconds: int) -> dict:
        self.waits.append(WaitTimeSeconds)
        keys = self.batches.pop(0) if self.batches else []
        body = lambda key: json.dumps({"Records": [record(f"landing/{key}")]})  # noqa: E731
        return {"Messages": [{"MessageId": k, "ReceiptHandle": k, "Body": body(k)} for k in keys]}


def test_every_receive_is_a_long_poll_and_the_first_empty_answer_ends_the_pass():
    client = Client([["a.csv", "b.csv"], ["c.csv"]])
    received = LandingQueue("https://sqs.example/1/q", Store(), client, wait_seconds=12).receive()
    assert [f.key for m in received for f in m.files] == ["a.csv", "b.csv", "c.csv"]
    assert client.waits == [12, DRAIN_WAIT_SECONDS, DRAIN_WAIT_SECONDS]  # waits for the first, then drains
    idle = Client([])
    assert LandingQueue("https://sqs.example/1/q", Store(), idle, wait_seconds=12).receive() == []
    assert idle.waits == [12]  # one long poll, never a short one
    with pytest.raises(ValueError):
        LandingQueue("https://sqs.example/1/q", Store(), idle, wait_seconds=0)


def test_the_wait_is_a_setting_checked_up_front(monkeypatch):
    monkeypatch.delenv("REVENUE_LANDING_QUEUE_WAIT_SECONDS", raising=False)
    assert wait_seconds_from_environment() == WAIT_SECONDS
    assert LandingQueue("https://sqs.example/1/q", Store(), Client([])).wait_seconds == WAIT_SECONDS
    monkeypatch.setenv("REVENUE_LANDING_QUEUE_WAIT_SECONDS", "12")
    assert wait_seconds_from_environment() == 12
    for bad in ("0", "21", "-1", "1.5", "soon"):  # 0 would be short polling; SQS allows at most 20
        monkeypatch.setenv("REVENUE_LANDING_QUEUE_WAIT_SECONDS", bad)
        with pytest.raises(ConfigurationError, match="REVENUE_LANDING_QUEUE_WAIT_SECONDS"):
            wait_seconds_from_environment()
