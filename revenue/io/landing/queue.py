"""S3 event notifications read from an SQS queue: the landing path for busy landing zones.

Listing the landing prefix every pass costs more with every file ever landed. With a queue
configured (``REVENUE_LANDING_QUEUE_URL``: the bucket sends ``s3:ObjectCreated:*``
notifications for the landing prefix to it), the watcher reads the notifications instead and
lists nothing. Each notification names an object version (key, ETag, size); it is registered
in the landing registry exactly as a listed one would be, so event ids, landing order and the
announce-after-send guarantee are the same. A message is deleted from the queue only after
its landings are registered: the registry, not the queue, is the cursor (a crash between the
two re-delivers the message, and the registry sees the same ETag and registers nothing new).

A pass reads the queue with long polls only (``LandingQueue.receive``): its first receive
waits up to ``WAIT_SECONDS`` (``REVENUE_LANDING_QUEUE_WAIT_SECONDS``) for a notification,
so a file notified while the pass waits is that pass's; once messages come the rest are
drained with ``DRAIN_WAIT_SECONDS`` polls, and the pass ends on the first empty answer. A
long poll asks every SQS server, so its empty answer means the queue is empty (a short
poll, ``WaitTimeSeconds=0``, samples some servers and can answer nothing while messages wait).

Keys arrive URL-encoded (``+`` for a space) and are decoded once, then must keep the landing
key rule (``revenue.io.landing.keys``). The ``s3:TestEvent`` S3 sends when the notification is
configured, records other than ``ObjectCreated``, notifications for other buckets or outside
the landing prefix, and reserved keys (``_errors/``) are ignored (and deleted). A
notification sent through SNS (its envelope's ``Message``) is unwrapped.

Each message is parsed on its own. One that is not such a notification (not JSON, no
``Records`` list, a record without key, ETag or size, a key breaking the key rule) is
*malformed*: it is logged (its message id, the reason and the first
``EXCERPT_CHARS`` characters of its body) and deleted, and registers nothing; the rest of
the batch goes on. Deleted rather than left for the queue's dead-letter policy: no
redelivery makes such a message readable, a queue without a redrive policy would hand it
back every pass forever, and with one it would sit invisible for the visibility timeout,
``maxReceiveCount`` times, logged each time; the log line is its record.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus, urlparse

from revenue.io.landing.keys import shown
from revenue.io.landing.zone import RESERVED_PREFIXES, LandedFile, landing_key_problem
from revenue.settings import LANDING_QUEUE_WAIT_SECONDS

log = logging.getLogger(__name__)

MAX_PER_RECEIVE = 10
"""SQS returns at most ten messages per receive."""
WAIT_SECONDS = LANDING_QUEUE_WAIT_SECONDS.default
"""How long a pass's first receive waits for a notification on an empty queue (long
polling; ``REVENUE_LANDING_QUEUE_WAIT_SECONDS`` sets it, a whole number from 1 to 20, SQS's
bound). Keep it below the watch interval: an idle pass takes this long."""
DRAIN_WAIT_SECONDS = 1
"""The long poll of every further receive of a pass, once messages came: its empty answer
ends the pass."""
MAX_WAIT_SECONDS = 20
EXCERPT_CHARS = 200
"""How much of a malformed message's body its log line quotes."""


class MalformedMessage(ValueError):
    """A queue message that is not an S3 notification this landing prefix can take."""


@dataclass(frozen=True)
class Received:
    """One queue message: its id, the landed files it names (none when malformed), and its
    receipt for deleting it."""

    receipt: str
    files: list[LandedFile]
    message_id: str = ""


def files_of(body: Any, bucket: str, folder: str, uri: Any) -> list[LandedFile]:
    """The landed files an S3 notification (a parsed message body) names: none for a test
    event or a foreign record; ``MalformedMessage`` saying why for one that is no S3
    notification. ``uri(key)`` makes the file's URI from its key relative to the folder."""
    if not isinstance(body, dict):
        raise MalformedMessage(f"a JSON {type(body).__name__}, not an object")
    if body.get("Type") == "Notification" and isinstance(body.get("Message"), str):  # through SNS
        return files_of(_json(body["Message"]), bucket, folder, uri)
    if body.get("Event") == "s3:TestEvent":
        return []
    records = body.get("Records")
    if not isinstance(records, list):
        raise MalformedMessage("no Records list")
    found = []
    for n, record in enumerate(records):
        landed = _landed(record, bucket, folder, uri)
        if isinstance(landed, str):
            raise MalformedMessage(f"record {n}: {landed}")
        if landed is not None:
            found.append(landed)
    return found


def _landed(record: Any, bucket: str, folder: str, uri: Any) -> LandedFile | str | None:
    """The file one record names, None when it is not ours to take, or why it is malformed."""
    if not isinstance(record, dict) or not isinstance(record.get("s3"), dict):
        return "not an S3 event record"
    s3 = record["s3"]
    if not str(record.get("eventName", "")).startswith("ObjectCreated"):
        return None
    if not isinstance(s3.get("bucket"), dict) or s3["bucket"].get("name") != bucket:
        return None
    obj = s3.get("object")
    if not isinstance(obj, dict) or not isinstance(obj.get("key"), str) or not obj.get("eTag"):
        return "no object key or ETag"
    try:
        size = int(obj.get("size", -1))
    except (TypeError, ValueError):
        size = -1
    if size < 0:
        return "no object size"
    key = unquote_plus(obj["key"])
    prefix = f"{folder}/" if folder else ""
    if not key.startswith(prefix) or key.endswith("/"):
        return None
    relative = key[len(prefix) :]
    if relative.startswith(RESERVED_PREFIXES):
        return None
    problem = landing_key_problem(relative)
    if problem is not None:
        return f"key {shown(key)}: not a file key under the landing prefix ({problem})"
    return LandedFile(uri=uri(relative), key=relative, etag=str(obj["eTag"]).strip('"'), size=size)


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as error:
        raise MalformedMessage(f"not JSON ({error})") from None


def wait_seconds_from_environment() -> int:
    """``REVENUE_LANDING_QUEUE_WAIT_SECONDS``, else ``WAIT_SECONDS``; ``ConfigurationError``
    naming it for anything but a whole number from 1 to 20 (0 would be a short poll)."""
    return LANDING_QUEUE_WAIT_SECONDS.value()


class LandingQueue:
    """The SQS queue of an S3 landing store (``revenue.io.storage.S3Store``). ``wait_seconds``:
    how long a pass's first receive long-polls (None: ``wait_seconds_from_environment``)."""

    def __init__(self, queue_url: str, store: Any, client: Any = None, wait_seconds: int | None = None) -> None:
        wait = wait_seconds_from_environment() if wait_seconds is None else wait_seconds
        if not 1 <= wait <= MAX_WAIT_SECONDS:
            raise ValueError(f"a long poll waits 1 to {MAX_WAIT_SECONDS} s, not {wait}")
        self.queue_url, self.store, self.wait_seconds = queue_url, store, wait
        if client is None:
            endpoint = urlparse(queue_url)
            session = store.session
            client = session.client("sqs", endpoint_url=f"{endpoint.scheme}://{endpoint.netloc}")
        self._client = client

    def receive(self, limit: int = 100) -> list[Received]:
        """Up to ``limit`` messages, each parsed on its own (a malformed one is logged and
        comes back with no files, to be deleted with the others). Every receive is a long
        poll, which asks every SQS server (a short poll samples some, and can answer nothing
        while messages wait): the first waits up to ``wait_seconds`` for a message, the next
        ones ``DRAIN_WAIT_SECONDS``; the first empty answer ends the pass."""
        received: list[Received] = []
        wait = self.wait_seconds
        while len(received) < limit:
            batch = self._client.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=MAX_PER_RECEIVE, WaitTimeSeconds=wait
            ).get("Messages", [])
            if not batch:
                break
            received.extend(self._parsed(message) for message in batch)
            wait = min(wait, DRAIN_WAIT_SECONDS)
        return received

    def _parsed(self, message: dict[str, Any]) -> Received:
        message_id = str(message.get("MessageId", "?"))
        body = message.get("Body") or ""
        try:
            files = files_of(_json(body), self.store.bucket, self.store.folder, self.store.uri)
        except MalformedMessage as error:
            log.warning(
                "landing queue %s: message %s is not an S3 notification of the landing prefix (%s), deleted; "
                "its body (%d characters) begins %s",
                self.queue_url,
                message_id,
                error,
                len(body),
                shown(body[:EXCERPT_CHARS]),
            )
            files = []
        return Received(message["ReceiptHandle"], files, message_id)

    def delete(self, messages: list[Received]) -> None:
        """Delete the messages (ten per request); one SQS could not delete is logged and
        comes back later, to be registered as nothing new."""
        for start in range(0, len(messages), MAX_PER_RECEIVE):
            chunk = messages[start : start + MAX_PER_RECEIVE]
            entries = [{"Id": str(n), "ReceiptHandle": m.receipt} for n, m in enumerate(chunk)]
            response = self._client.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
            for failed in response.get("Failed", []):
                log.warning(
                    "landing queue %s: message %s not deleted (%s), it will be received again",
                    self.queue_url,
                    chunk[int(failed["Id"])].message_id,
                    failed.get("Code", "?"),
                )
