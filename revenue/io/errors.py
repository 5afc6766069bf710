"""Failures of external services, named for the person paged at 3 a.m.

``service(name, action, partition)`` turns a connection-level failure inside it into a
``ServiceUnavailableError`` (``revenue.errors``) that says which service (by a
credential-free label such as ``source database postgresql:shop/orders`` or ``lake
s3://bucket/prefix``), which partition, what the pipeline was doing, and the driver's own
reason with anything that looks like a secret removed. IO tasks retry it with backoff;
when the service stays down, it is the run's final error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from revenue.errors import ServiceUnavailableError
from revenue.redaction import redact


def _reason(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()
    return redact(text[0] if text else type(original).__name__)[:300]


def _is_service_failure(error: BaseException) -> bool:
    import sqlalchemy.exc as sa_exc

    if isinstance(error, (sa_exc.OperationalError, sa_exc.InterfaceError, ConnectionError, TimeoutError)):
        return True
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # pragma: no cover
        return False
    if isinstance(error, ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return status >= 500 or status == 0
    return isinstance(error, BotoCoreError)


@contextmanager
def service(name: str, action: str, partition: dt.date | str | None = None) -> Iterator[None]:
    """Turn connection-level failures inside the block into ``ServiceUnavailableError``."""
    try:
        yield
    except ServiceUnavailableError:
        raise
    except Exception as error:
        if _is_service_failure(error):
            raise ServiceUnavailableError(name, action, partition, _reason(error)) from None
        raise


@contextmanager
def naming_partitions(partitions: Sequence[dt.date]) -> Iterator[None]:
    """Name the partitions (one day, or the range) in a service failure raised inside that
    named none: work done for many days at once still says which days it was for."""
    try:
        yield
    except ServiceUnavailableError as error:
        if error.partition or not partitions:
            raise
        first, last = min(partitions), max(partitions)
        label = first.isoformat() if first == last else f"{first.isoformat()}..{last.isoformat()}"
        raise ServiceUnavailableError(error.service, error.action, label, error.reason) from None
