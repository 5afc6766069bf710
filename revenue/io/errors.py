"""Errors of external services, named for the person paged at 3 a.m.

``ServiceUnavailableError`` says which service (by a credential-free label such as
``source database postgresql:shop/orders`` or ``lake s3://bucket/prefix``), which
partition, what the pipeline was doing, and the driver's own reason with anything that
looks like a secret removed. IO tasks retry it with backoff; when the service stays
down, it is the run's final error.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager

_SECRETS = [
    re.compile(r"(://[^:/@\s]+:)[^@\s]+@"),  # user:password@ in URLs
    re.compile(r"(password\s*[=:]\s*)\S+", re.IGNORECASE),
    re.compile(r"(secret[_a-z]*\s*[=:]\s*)\S+", re.IGNORECASE),
]


class ServiceUnavailableError(ConnectionError):
    """A database or object store could not be reached or failed mid-operation."""

    def __init__(self, service: str, action: str, partition: dt.date | str | None, reason: str) -> None:
        self.service, self.action, self.partition, self.reason = service, action, partition, reason
        where = f" for partition {partition}" if partition else ""
        super().__init__(f"{service} unavailable while {action}{where}: {reason}")

    def __reduce__(self):
        return (type(self), (self.service, self.action, self.partition, self.reason))


def redact(text: str) -> str:
    for pattern in _SECRETS:
        text = pattern.sub(lambda m: m.group(1) + "***" + ("@" if m.group(0).endswith("@") else ""), text)
    return text


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
