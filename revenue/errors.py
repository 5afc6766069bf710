"""The pipeline's errors: one hierarchy, so what may be retried is decided by type.

- ``ServiceUnavailableError``: a database or object store could not be reached or failed
  mid-operation. The only error a retry can fix; IO tasks retry it with backoff.
- ``DataError``: input no retry can fix (a file that cannot be read, a failed quality gate,
  a missing column, a key outside the landing prefix). Recorded and failed at once.
- ``InputSuperseded``: the partition's input changed while it was computed (a file was
  registered for the day, a landed object was replaced); the publish refused it and the
  partition is recomputed from its current input.
- ``ConfigurationError``: an environment block or variable is missing or malformed.

Every message names what failed (file, partition, service) and why, and never holds a
credential.
"""

from __future__ import annotations

import datetime as dt
from typing import Self


class PipelineError(Exception):
    """Base of every error the pipeline raises on purpose."""


class ConfigurationError(PipelineError, LookupError):
    """An environment block or variable is missing or malformed."""


class UnknownEnvironmentError(ConfigurationError):
    """No environment block document has that name."""

    @classmethod
    def named(cls, name: str) -> UnknownEnvironmentError:
        return cls(f"no environment block {name!r}: create it with `revenue blocks create --env {name}`")

    @classmethod
    def from_earlier_version(cls, name: str) -> UnknownEnvironmentError:
        """An environment whose block an earlier version made (block type ``revenue-pipeline``)."""
        return cls(
            f"environment {name!r} was created by an earlier version (a revenue-pipeline block): re-create it "
            f"with `revenue blocks create --env {name}`, then redeploy (`prefect deploy --all`); see "
            "docs/operations.md, Upgrading an existing server"
        )


class DataError(PipelineError, ValueError):
    """Input that no retry can fix: recorded, then the partition or file fails at once."""


class InputSuperseded(PipelineError):
    """The partition's input changed while it was computed; recompute from the current one."""

    def __init__(self, partition: dt.date | str, change: str) -> None:
        self.partition, self.change = str(partition), change
        super().__init__(f"partition {partition}: input changed while it was computed ({change})")

    def __reduce__(self) -> tuple[type[Self], tuple[object, ...]]:
        return (type(self), (self.partition, self.change))


class ServiceUnavailableError(PipelineError, ConnectionError):
    """A database or object store could not be reached or failed mid-operation.

    Says which service (a credential-free label such as ``source database
    postgresql:shop/orders`` or ``lake s3://bucket/prefix``), which partition, what the
    pipeline was doing, and the driver's own reason with anything secret-looking removed.
    """

    def __init__(self, service: str, action: str, partition: dt.date | str | None, reason: str) -> None:
        self.service, self.action, self.partition, self.reason = service, action, partition, reason
        where = f" for partition {partition}" if partition else ""
        super().__init__(f"{service} unavailable while {action}{where}: {reason}")

    def __reduce__(self) -> tuple[type[Self], tuple[object, ...]]:
        return (type(self), (self.service, self.action, self.partition, self.reason))


def is_retryable(error: BaseException) -> bool:
    """Only an unavailable service may succeed on a retry."""
    return isinstance(error, ServiceUnavailableError)
