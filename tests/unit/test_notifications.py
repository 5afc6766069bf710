"""Parsing S3 notifications one message at a time (plain dicts, no queue)."""

from __future__ import annotations

import json

import pytest

from revenue.io.landing.queue import MalformedMessage, files_of

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
