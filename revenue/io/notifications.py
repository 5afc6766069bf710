"""S3 event notifications read from an SQS queue: the landing path for busy landing zones.

Listing the landing prefix every pass costs more with every file ever landed. With a queue
configured (``REVENUE_LANDING_QUEUE_URL``: the bucket sends ``s3:ObjectCreated:*``
notifications for the landing prefix to it), the watcher reads the notifications instead and
lists nothing. Each notification names an object version (key, ETag, size); it is registered
in the landing registry exactly as a listed one would be, so event ids, landing order and the
announce-after-send guarantee are the same. A message is deleted from the queue only after
its landings are registered: the registry, not the queue, is the cursor (a crash between the
two re-delivers the message, and the registry sees the same ETag and registers nothing new).

Keys arrive URL-encoded (``+`` for a space); the ``s3:TestEvent`` S3 sends when the
notification is configured, notifications for other buckets or outside the landing prefix,
and reserved keys (``_errors/``) are ignored (and deleted).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus, urlparse

from revenue.io.landing import RESERVED_PREFIXES, LandedFile

MAX_PER_RECEIVE = 10
"""SQS returns at most ten messages per receive."""


@dataclass(frozen=True)
class Received:
    """One queue message: the landed files it names, and its receipt for deleting it."""

    receipt: str
    files: list[LandedFile]


def files_of(body: dict[str, Any], bucket: str, folder: str, uri: Any) -> list[LandedFile]:
    """The landed files an S3 notification names (none for a test event or a foreign key).
    ``uri(key)`` makes the file's URI from its key relative to the landing folder."""
    found = []
    for record in body.get("Records") or []:
        s3 = record.get("s3") or {}
        if (
            not str(record.get("eventName", "")).startswith("ObjectCreated")
            or s3.get("bucket", {}).get("name") != bucket
        ):
            continue
        key = unquote_plus(s3.get("object", {}).get("key", ""))
        prefix = f"{folder}/" if folder else ""
        if not key.startswith(prefix) or key.endswith("/"):
            continue
        relative = key[len(prefix) :]
        if not relative or relative.startswith(RESERVED_PREFIXES):
            continue
        obj = s3["object"]
        found.append(
            LandedFile(
                uri=uri(relative), key=relative, etag=str(obj.get("eTag", "")).strip('"'), size=int(obj.get("size", 0))
            )
        )
    return found


class LandingQueue:
    """The SQS queue of an S3 landing store (``revenue.io.storage.S3Store``)."""

    def __init__(self, queue_url: str, store: Any, client: Any = None) -> None:
        self.queue_url, self.store = queue_url, store
        if client is None:
            endpoint = urlparse(queue_url)
            session = store.session
            client = session.client("sqs", endpoint_url=f"{endpoint.scheme}://{endpoint.netloc}")
        self._client = client

    def receive(self, limit: int = 100) -> list[Received]:
        """Up to ``limit`` messages waiting now (no long poll: the watcher paces itself)."""
        received: list[Received] = []
        while len(received) < limit:
            batch = self._client.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=MAX_PER_RECEIVE, WaitTimeSeconds=0
            ).get("Messages", [])
            if not batch:
                break
            for message in batch:
                try:
                    body = json.loads(message.get("Body") or "{}")
                except ValueError:
                    body = {}
                received.append(
                    Received(
                        message["ReceiptHandle"], files_of(body, self.store.bucket, self.store.folder, self.store.uri)
                    )
                )
        return received

    def delete(self, messages: list[Received]) -> None:
        for start in range(0, len(messages), MAX_PER_RECEIVE):
            entries = [
                {"Id": str(n), "ReceiptHandle": m.receipt}
                for n, m in enumerate(messages[start : start + MAX_PER_RECEIVE])
            ]
            self._client.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
