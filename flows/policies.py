"""How the partition tasks retry and cache: the options every task of ``flows.partition``
(and ``landed_file``) is declared with.

- Retries: only a service that is down (``ServiceUnavailableError``) is retried, 3 times
  with exponential backoff and jitter; a data error fails at once.
- Cache: ``compute_partition`` is keyed on (task name, partition, input fingerprint), global
  across runs and machines; its small result is persisted in the environment's result storage.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict

from prefect.client.schemas.objects import TaskRun
from prefect.context import TaskRunContext
from prefect.states import State
from prefect.tasks import Task, exponential_backoff

from revenue.errors import is_retryable


def retry_service_failures(task: Task[..., Any], task_run: TaskRun, state: State) -> bool:
    """Retry only what a retry can fix: a service that is down. Data errors fail at once."""
    try:
        state.result()
    except Exception as error:
        return is_retryable(error)
    return False


class RetryOptions(TypedDict):
    retries: int
    retry_delay_seconds: Callable[[int], list[float]]
    retry_jitter_factor: float
    retry_condition_fn: Callable[..., bool]


class CacheOptions(TypedDict):
    cache_key_fn: Callable[[TaskRunContext, dict[str, Any]], str]
    persist_result: bool


IO_RETRIES = RetryOptions(
    retries=3,
    retry_delay_seconds=exponential_backoff(backoff_factor=1),
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_service_failures,
)


def partition_cache_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """Task name + partition + input fingerprint: global across runs and machines."""
    return f"{context.task.name}-{parameters['partition']}-{parameters['input'].fingerprint}"


CACHED = CacheOptions(cache_key_fn=partition_cache_key, persist_result=True)
"""The partition's unit of caching: keyed on (name, partition, fingerprint), its small
result persisted in the environment's result storage (S3 in production)."""
