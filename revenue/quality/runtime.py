"""The process-wide Great Expectations runtime the gates validate with.

One ephemeral GX context per process, built on first use (``great_expectations`` is imported
lazily: it costs ~3 s) and reused by every gate, with one pandas data source, dataframe asset
and whole-dataframe batch definition.

Validations run one at a time, behind one lock. GX 1.x cannot validate concurrently in one
process: it resolves ``$PARAMETER`` values with a module-level parser
(``great_expectations.core.suite_parameters.EXPR``) whose expression stack every thread
shares (concurrent validations failed with ``SuiteParameterParser.push_first() missing 1
required positional argument: 'toks'``), and a data source's execution engine keeps the
loaded batch under one id per asset, so two threads would validate each other's frames.
Nor would it be faster: validation is GIL-bound pandas and Python, and with the lock removed
two or four threads took as long as one (``scripts/time_gates.py``).

Speed: GX fingerprints every in-memory dataframe under 1 GB (``hash_pandas_object`` of the
whole frame, ~0.5 s for 1M orders with two string columns) only to record it in the batch
markers. The runtime turns that fingerprint off (see :func:`_disable_dataframe_fingerprint`);
nothing in the pipeline reads it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from great_expectations.core import (
        ExpectationSuite,
        ExpectationSuiteValidationResult,
    )

logger = logging.getLogger(__name__)

RESULT_FORMAT: dict[str, Any] = {"result_format": "BASIC", "partial_unexpected_count": 5}
"""BASIC: counts and a sample of unexpected values, without the index lists and value
counts SUMMARY adds (a third of a gate's time on a 10k-order day)."""

_DATASOURCE = "revenue_quality"


@dataclass(frozen=True)
class _Runtime:
    """The GX context, its one pandas data source and the batch definition every validation
    loads its frame with."""

    context: Any
    datasource: Any
    batch_definition: Any


_RUNTIME: _Runtime | None = None
_RUNTIME_LOCK = threading.Lock()
_VALIDATE_LOCK = threading.Lock()
"""One validation at a time per process: GX's suite-parameter parser and the data source's
batch cache are shared state (see the module docstring)."""


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
    """Import GX, build the context and every suite now rather than in the first gate.

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
    datasource = context.data_sources.add_pandas(_DATASOURCE)
    batch_definition = datasource.add_dataframe_asset("frame").add_batch_definition_whole_dataframe("whole")
    return _Runtime(context=context, datasource=datasource, batch_definition=batch_definition)


def _disable_dataframe_fingerprint() -> None:
    """Stop GX hashing every in-memory dataframe it loads.

    The one patch of GX internals here, because GX has no public switch for it (checked in
    great_expectations 1.24.1): ``PandasExecutionEngine.get_batch_data_and_markers`` adds
    ``pandas_data_fingerprint`` (an md5 of ``hash_pandas_object(df)``) to the batch markers of
    frames whose memory usage is below the module constant ``HASH_THRESHOLD``; it is metadata
    only, and for a 1M-order frame it costs more than all the expectations together. Setting
    the threshold to 0 skips it for this process. tests/unit/test_quality_suites.py fails if
    GX renames the constant or stops using it.
    """
    from great_expectations.execution_engine import pandas_execution_engine

    if hasattr(pandas_execution_engine, "HASH_THRESHOLD"):
        pandas_execution_engine.HASH_THRESHOLD = 0
    else:  # pragma: no cover - a GX upgrade renamed it; validation still works, just slower
        logger.warning("great_expectations has no HASH_THRESHOLD: dataframe fingerprints stay on")


def _release_batch_data(datasource: Any) -> None:
    """Drop the execution engine's reference to the validated frame so it can be freed
    (the engine caches the last loaded batch until the next one replaces it)."""
    try:
        manager = datasource.get_execution_engine().batch_manager
        manager.batch_data_cache.clear()
        manager.reset_batch_cache()
    except Exception:  # pragma: no cover - best effort; the next load replaces it anyway
        logger.debug("could not release GX batch data", exc_info=True)


def validate(
    suite: ExpectationSuite, frame: pd.DataFrame, parameters: Mapping[str, Any] | None = None
) -> ExpectationSuiteValidationResult:
    """Validate ``frame`` against ``suite`` with ``parameters`` for its ``$PARAMETER`` values.

    Results use ``BASIC`` format with up to 5 unexpected values per expectation. Concurrent
    callers wait for each other (one validation at a time per process).
    """
    runtime = get_runtime()
    with _VALIDATE_LOCK:
        try:
            batch = runtime.batch_definition.get_batch(batch_parameters={"dataframe": frame})
            return batch.validate(suite, result_format=RESULT_FORMAT, expectation_parameters=dict(parameters or {}))
        finally:
            _release_batch_data(runtime.datasource)
