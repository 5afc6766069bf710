"""What a failed run leaves in Prefect's flow-run log (``flows.outcomes``): the engine's
re-raise of a failure the flow reported itself is dropped; any other exception is kept."""

from __future__ import annotations

import logging

import pytest

from flows.outcomes import ENGINE_EXIT_LINE, failed_run
from revenue.errors import DataError


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def flow_run_log():
    logger = logging.getLogger("prefect.flow_runs")
    handler, level = Collect(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield logger, handler.records
    logger.removeHandler(handler)
    logger.setLevel(level)


def engine_reraises(logger: logging.Logger, error: BaseException) -> None:
    """What ``prefect.flow_engine.run_flow`` does once a Failed run's result raises."""
    try:
        raise error
    except Exception:
        logger.error(ENGINE_EXIT_LINE, exc_info=True)


def test_a_reported_failure_ends_failed_with_its_message_and_its_reraise_is_not_logged(flow_run_log):
    logger, records = flow_run_log
    error = DataError("2026-03-02 failed: quality gate failed for raw_orders")

    state = failed_run(str(error), error)
    engine_reraises(logger, error)

    assert state.is_failed() and state.message == "2026-03-02 failed: quality gate failed for raw_orders"
    assert records == []


def test_an_unexpected_exception_keeps_the_engines_line_and_traceback(flow_run_log):
    logger, records = flow_run_log

    engine_reraises(logger, RuntimeError("the database went away"))
    logger.error("another error", exc_info=(DataError, DataError("x"), None))

    assert [r.getMessage() for r in records] == [ENGINE_EXIT_LINE, "another error"]
    assert records[0].exc_info is not None
