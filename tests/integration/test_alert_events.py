"""A service outage is a failed-day alert only once Prefect's retries are spent: the
partition task asks ``_last_attempt`` on each attempt, here through Prefect's engine."""

from __future__ import annotations

from prefect import flow, task

from flows.partition import _last_attempt


def test_only_the_attempt_without_a_retry_left_is_the_last():
    seen: list[bool] = []

    @task(retries=2, retry_delay_seconds=0)
    def flaky() -> None:
        seen.append(_last_attempt())
        raise ConnectionError("the database is down")

    @flow
    def run_it() -> None:
        flaky(return_state=True)

    run_it()
    assert seen == [False, False, True]
