"""The landing watcher on S3 event notifications (moto's server delivering to SQS): every
file landed is announced exactly once, nothing is listed, and the queue is left empty."""

from __future__ import annotations

import json
import uuid

import boto3
import pytest

from flows.landing_watcher import watch_pass
from revenue.io.environment import environment
from tests.integration.conftest import _save_environment, s3_client
from tests.services import S3_ACCESS_KEY, S3_SECRET_KEY, pg_s3_environ

CSV = "order_id,customer_id,amount,order_date\n{id},c,1.00,2026-03-05T10:00:00Z\n"


def test_notified_files_are_announced_once_without_listing(pg_url, s3_endpoint, s3_bucket, monkeypatch):
    sqs = boto3.client("sqs", endpoint_url=s3_endpoint, aws_access_key_id=S3_ACCESS_KEY,
                       aws_secret_access_key=S3_SECRET_KEY, region_name="us-east-1")
    queue_url = sqs.create_queue(QueueName=f"landing-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3 = s3_client(s3_endpoint)
    s3.put_bucket_notification_configuration(Bucket=s3_bucket, NotificationConfiguration={"QueueConfigurations": [{
        "QueueArn": arn, "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "landing/"}]}}}]})
    config = _save_environment(f"queue-{uuid.uuid4().hex[:6]}",
                               {**pg_s3_environ(pg_url, s3_endpoint, s3_bucket), "REVENUE_LANDING_QUEUE_URL": queue_url})
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
