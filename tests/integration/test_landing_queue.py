"""The landing watcher on S3 event notifications (moto's server delivering to SQS): every
file landed is announced exactly once, nothing is listed, and the queue is left empty."""

from __future__ import annotations

import uuid

from flows.landing_watcher import watch_pass
from revenue.io.environment import environment
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
