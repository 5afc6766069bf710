"""The landing watcher on S3 event notifications (moto's server delivering to SQS): every
file landed is announced exactly once, nothing is listed, and the queue is left empty."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid

from flows.landing_watcher import watch_pass
from revenue.io.environment import environment
from revenue.io.landing.queue import DRAIN_WAIT_SECONDS, WAIT_SECONDS
from testkit.services import aws_client, notify_to_new_queue, pg_s3_environ
from tests.integration.conftest import _save_environment, s3_client

CSV = "order_id,customer_id,amount,order_date\n{id},c,1.00,2026-03-05T10:00:00Z\n"


def test_notified_files_are_announced_once_without_listing(pg_url, s3_endpoint, s3_bucket, monkeypatch):
    queue_url = notify_to_new_queue(s3_endpoint, s3_bucket)
    sqs = aws_client("sqs", s3_endpoint)
    s3 = s3_client(s3_endpoint)
    config = _save_environment(
        f"queue-{uuid.uuid4().hex[:6]}",
        {**pg_s3_environ(pg_url, s3_endpoint, s3_bucket), "REVENUE_LANDING_QUEUE_URL": queue_url},
    )
    env = environment(config)

    def no_listing(*args, **kwargs):
        raise AssertionError("the landing prefix was listed")

    monkeypatch.setattr(env.landing, "list", no_listing)
    keys = ["landing/orders 0305.csv", "landing/orders-0306.csv"]
    for n, key in enumerate(keys):
        s3.put_object(Bucket=s3_bucket, Key=key, Body=CSV.format(id=n + 1).encode())
    s3.put_object(Bucket=s3_bucket, Key="elsewhere/not-landed.csv", Body=b"x")

    announced = watch_pass(config)
    assert sorted(announced) == sorted(f"s3://{s3_bucket}/{key}" for key in keys)  # the space came as "+"
    assert watch_pass(config) == []  # nothing new: not announced twice
    s3.put_object(Bucket=s3_bucket, Key=keys[0], Body=CSV.format(id=1).encode())  # same bytes, same ETag
    assert watch_pass(config) == []
    assert sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0).get("Messages", []) == []
    versions = env.registry.unannounced()
    assert versions == []


def queued(sqs, queue_url: str) -> int:
    """Messages in the queue, visible or received and not deleted yet."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[name]) for name in names)


def test_a_malformed_message_is_logged_and_deleted_and_the_rest_of_the_batch_goes_on(
    pg_url, s3_endpoint, s3_bucket, caplog
):
    """One message that is no S3 notification (bad JSON, no Records, a key breaking the key
    rule, a huge body) used to fail the whole pass: the good message in the same batch was
    neither registered nor deleted, and no heartbeat was written."""
    from revenue.io.activity import LANDING_WATCHER, last_beat

    queue_url = notify_to_new_queue(s3_endpoint, s3_bucket)
    sqs = aws_client("sqs", s3_endpoint)
    config = _save_environment(
        f"queue-{uuid.uuid4().hex[:6]}",
        {**pg_s3_environ(pg_url, s3_endpoint, s3_bucket), "REVENUE_LANDING_QUEUE_URL": queue_url},
    )
    env = environment(config)
    sqs.purge_queue(QueueUrl=queue_url)  # moto's s3:TestEvent, if it sent one
    good = "landing/orders-0305.csv"
    s3_client(s3_endpoint).put_object(Bucket=s3_bucket, Key=good, Body=CSV.format(id=1).encode())

    def record(key: str) -> dict:
        s3 = {"bucket": {"name": s3_bucket}, "object": {"key": key, "eTag": "0" * 32, "size": 10}}
        return {"eventName": "ObjectCreated:Put", "s3": s3}

    bad_bodies = {
        "bad json": "{not json",
        "no records": json.dumps({"Hello": "world"}),
        "records not a list": json.dumps({"Records": "x"}),
        "a list": json.dumps([1, 2]),
        "absolute key": json.dumps({"Records": [record("landing//etc/passwd")]}),
        "dot-dot key": json.dumps({"Records": [record("landing/a/../../lake/x.csv")]}),
        "huge": json.dumps({"Records": "y" * 200_000}),
    }
    bad_ids = {
        why: sqs.send_message(QueueUrl=queue_url, MessageBody=body)["MessageId"] for why, body in bad_bodies.items()
    }

    with caplog.at_level(logging.WARNING):
        announced = watch_pass(config)
    assert announced == [f"s3://{s3_bucket}/{good}"]  # the good one is registered and announced
    assert env.registry.warehouse.read_table("landing_registry")["key"].tolist() == ["orders-0305.csv"]
    assert queued(sqs, queue_url) == 0  # the good and the bad deleted
    assert last_beat(env.warehouse, LANDING_WATCHER) is not None  # the pass wrote its heartbeat
    for why, message_id in bad_ids.items():
        [line] = [r.getMessage() for r in caplog.records if message_id in r.getMessage()]
        assert "deleted" in line, line
        assert len(line) < 2_000, (why, len(line))  # the message id and an excerpt, never a huge body


def test_a_notification_sent_while_a_pass_waits_is_that_passs_and_the_wait_is_long_polling(
    pg_url, s3_endpoint, s3_bucket
):
    """A pass ends only on a long poll's empty answer, and its first receive waits up to
    ``WAIT_SECONDS``: a file notified two seconds into the receive is registered by that
    pass (with the 1 s wait it used to be, the pass ended empty and the file waited a whole
    watch interval), and the pass returns as soon as the queue is drained (moto's server
    answers a long poll when a message arrives), not after the wait."""
    queue_url = notify_to_new_queue(s3_endpoint, s3_bucket)
    sqs = aws_client("sqs", s3_endpoint)
    config = _save_environment(
        f"queue-{uuid.uuid4().hex[:6]}",
        {**pg_s3_environ(pg_url, s3_endpoint, s3_bucket), "REVENUE_LANDING_QUEUE_URL": queue_url},
    )
    queue = environment(config).landing_queue
    assert queue is not None
    sqs.purge_queue(QueueUrl=queue_url)  # moto's s3:TestEvent, if it sent one
    key = "landing/orders-0307.csv"
    late = threading.Timer(
        2.0, lambda: s3_client(s3_endpoint).put_object(Bucket=s3_bucket, Key=key, Body=CSV.format(id=7).encode())
    )

    started = time.monotonic()
    late.start()
    try:
        received = queue.receive()
    finally:
        late.join()
    took = time.monotonic() - started

    assert [f.key for message in received for f in message.files] == ["orders-0307.csv"]
    assert took < 2.0 + DRAIN_WAIT_SECONDS + 3.0, took  # drained, not waited out
    assert WAIT_SECONDS > 2.0 and WAIT_SECONDS <= 20  # SQS's own bound
