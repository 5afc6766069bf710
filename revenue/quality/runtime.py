"""The process-wide Great Expectations runtime the gates validate with.

One ephemeral GX context per process, built on first use (``great_expectations`` is imported
lazily: it costs ~3 s) and reused by every gate. Gates run in concurrent threads, and GX keeps
a loaded batch in its pandas *execution engine*, one engine per data source, under a batch id
that is the same for every dataframe of an asset. Two threads sharing a data source would
validate each other's frames. So the runtime holds a fixed pool of *lanes*, each with its own
pandas data source, dataframe asset and whole-dataframe batch definition; a validation borrows
a lane for its duration, and waits when all lanes are busy. Lanes are all created up front,
under the lock, so the context is never mutated while another thread validates.

Speed: GX fingerprints every in-memory dataframe under 1 GB (``hash_pandas_object`` of the
whole frame, ~0.5 s for 1M orders with two string columns) only to record it in the batch
markers. The runtime turns that fingerprint off (see :func:`_disable_dataframe_fingerprint`);
nothing in the pipeline reads it.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from great_expectations.core import (
        ExpectationSuite,
        ExpectationSuiteValidationResult,
    )

logger = logging.getLogger(__name__)

LANES = 8
"""Validations that can run at the same time in one process."""

RESULT_FORMAT: dict[str, Any] = {"result_format": "BASIC", "partial_unexpected_count": 5}
"""BASIC: counts and a sample of unexpected values, without the index lists and value
counts SUMMARY adds (a third of a gate's time on a 10k-order day)."""

_DATASOURCE_PREFIX = "revenue_quality_lane"


@dataclass(frozen=True)
class _Lane:
    """One pandas data source (with its own execution engine) and its batch definition."""

    datasource: Any
    batch_definition: Any


@dataclass(frozen=True)
class _Runtime:
    context: Any
    lanes: queue.SimpleQueue[_Lane]


_RUNTIME: _Runtime | None = None
_RUNTIME_LOCK = threading.Lock()


def get_runtime() -> _Runtime:
    """The process's GX runtime, built once (thread-safe)."""
    global _RUNTIME
    runtime = _RUNTIME
    if runtime is not None:
        return runtime
    with _RUNTIME_LOCK:
        if _RUNTIME is None:
            _RUNTIME = _build_runtime()
        return _RUNTIME


def warm_up() -> None:
    """Import GX, build the context, the lanes and every suite now rather than in the first gate.

    Optional: a flow can call it in a background thread while it extracts, to take the
    ~3-6 s GX import off the partition's critical path. Safe to call repeatedly and concurrently.
    """
    from revenue.quality.suites import DATASETS, build_suite

    get_runtime()
    for dataset in DATASETS:
        build_suite(dataset)


def warm_up_in_background() -> None:
    """``warm_up`` in a daemon thread: a flow starts it while its first partition extracts,
    so the first gate does not wait for the GX import on the critical path."""
    import threading

    threading.Thread(target=warm_up, name="gx-warm-up", daemon=True).start()


def _build_runtime() -> _Runtime:
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    _disable_dataframe_fingerprint()
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    lanes: queue.SimpleQueue[_Lane] = queue.SimpleQueue()
    for index in range(LANES):
        datasource = context.data_sources.add_pandas(f"{_DATASOURCE_PREFIX}_{index}")
        asset = datasource.add_dataframe_asset("frame")
        lanes.put(_Lane(datasource, asset.add_batch_definition_whole_dataframe("whole")))
    return _Runtime(context=context, lanes=lanes)


def _disable_dataframe_fingerprint() -> None:
    """Stop GX hashing every in-memory dataframe it loads.

    ``PandasExecutionEngine`` adds ``pandas_data_fingerprint`` (an md5 of
    ``hash_pandas_object(df)``) to the batch markers of frames whose memory usage is below the
    module constant ``HASH_THRESHOLD``; it is metadata only, and for a 1M-order frame it costs
    more than all the expectations together. Setting the threshold to 0 skips it for this
    process. Checked by tests/unit/test_quality_suites.py.
    """
    from great_expectations.execution_engine import pandas_execution_engine

    if hasattr(pandas_execution_engine, "HASH_THRESHOLD"):
        pandas_execution_engine.HASH_THRESHOLD = 0
    else:  # pragma: no cover - a GX upgrade renamed it; validation still works, just slower
        logger.warning("great_expectations has no HASH_THRESHOLD: dataframe fingerprints stay on")


@contextlib.contextmanager
def _borrow_lane() -> Iterator[_Lane]:
    lanes = get_runtime().lanes
    lane = lanes.get()
    try:
        yield lane
    finally:
        _release_batch_data(lane)
        lanes.put(lane)


def _release_batch_data(lane: _Lane) -> None:
    """Drop the engine's reference to the validated frame so it can be freed."""
    try:
        manager = lane.datasource.get_execution_engine().batch_manager
        manager.batch_data_cache.clear()
        manager.reset_batch_cache()
    except Exception:  # pragma: no cover - best effort; the next load replaces it anyway
        logger.debug("could not release GX batch data", exc_info=True)


def validate(
    suite: ExpectationSuite, frame: pd.DataFrame, parameters: Mapping[str, Any] | None = None
) -> ExpectationSuiteValidationResult:
    """Validate ``frame`` against ``suite`` with ``parameters`` for its ``$PARAMETER`` values.

    Results use ``BASIC`` format with up to 5 unexpected values per expectation.
    """
    with _borrow_lane() as lane, _VALIDATE_LOCK:
        batch = lane.batch_definition.get_batch(batch_parameters={"dataframe": frame})
        return batch.validate(suite, result_format=RESULT_FORMAT, expectation_parameters=dict(parameters or {}))


_VALIDATE_LOCK = threading.Lock()
"""GX resolves ``$PARAMETER`` values with a module-level pyparsing parser that is not
thread-safe: concurrent validations failed with ``SuiteParameterParser.push_first()
missing 1 required positional argument: 'toks'`` (seen in a 2-partition backfill).
Validations therefore run one at a time; they cost ~0.3 s per 1M-row partition."""
