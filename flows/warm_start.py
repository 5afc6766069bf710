"""Served flow runs start warm: forked from a process that has imported the pipeline.

Prefect's runner (``prefect.serve``: what ``revenue dev`` and ``revenue serve`` run) starts
each run of a served flow in a new interpreter (``run_flow_in_subprocess``, multiprocessing's
``spawn``), which imports Prefect, pandas, pyarrow and the flows and builds Great
Expectations' context again before the run's code runs: most of the seconds between a
landed file and its published day when the file is small (README, "Seconds from a landed
file").

``install()`` makes the serving process start those runs with multiprocessing's
``forkserver`` instead: one server process, started once (``start_in_background``), imports
``flows.warm_preload`` (the flows, pandas, pyarrow, Great Expectations, whose context and
suites it builds), then forks one child per run. Each run still has a process of its own
(its memory returns when it ends, a crash or a kill ends that run only, cancellation stops
it as before) and goes through Prefect's engine exactly as a spawned run does; it just
starts with everything loaded. The server process starts no thread before it forks (a
forked thread would be lost), which ``tests/integration/test_warm_start.py`` checks.

A run's process also ends when the serving process dies: the fork server exits when the
serving process's end of their pipe closes (each run's process closes its inherited copy),
and a run's process asks the kernel for SIGTERM when its parent, the fork server, goes
(``PR_SET_PDEATHSIG``). Prefect's engine records the run as crashed; the next
``revenue dev`` settles what was left (``cli.dev.settle_runs_left_behind``).

Code edited while it serves is picked up as with spawned runs: before a run starts, the
modules' files under ``flows/``, ``revenue/`` and ``blocks/`` are compared with when the
fork server loaded them (one ``stat`` each, about a millisecond in all), and a change
restarts it; that run starts cold.

Only the runner's starts change: ``prefect.flow_engine.run_flow_in_subprocess`` is the one
place that asks for a ``spawn`` context (``prefect.runner._starter_direct`` calls it for
every served flow), and ``install`` gives that module a ``multiprocessing`` whose
``get_context("spawn")`` is the warm context; everything else is the real module.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
import os
import signal
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

log = logging.getLogger("revenue.serve")

PRELOAD = ["flows.warm_preload"]
"""Imported once by the fork server (``flows/warm_preload.py`` says what it loads)."""
_PR_SET_PDEATHSIG = 1
CODE = tuple(Path(__file__).resolve().parents[1] / package for package in ("flows", "revenue", "blocks"))
"""The project's packages the fork server loads: a change to one restarts it."""


class WarmProcess(multiprocessing.context.ForkServerProcess):
    """A run's process, forked from the warm server: it asks for SIGTERM when the server
    (its parent) dies, then runs the run as Prefect handed it."""

    def run(self) -> None:
        _leave_the_fork_server()
        _die_with_parent()
        super().run()


class WarmContext(multiprocessing.context.ForkServerContext):
    Process = WarmProcess


WARM = WarmContext()


def _leave_the_fork_server() -> None:
    """Close this child's copy of the fork server's "alive" pipe: the fork server exits when
    the serving process's end closes, which it could not while a run held a copy."""
    server: Any = multiprocessing.forkserver._forkserver
    alive = getattr(server, "_forkserver_alive_fd", None)
    if alive is not None:
        try:
            os.close(alive)
        except OSError:
            pass
        server._forkserver_alive_fd = None


def _die_with_parent() -> None:
    if sys.platform != "linux":
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: the child outlives a killed parent, as a spawned one does
        pass


class _Multiprocessing(ModuleType):
    """``multiprocessing`` as ``prefect.flow_engine`` sees it once warm starts are installed:
    its ``spawn`` context is the warm one; every other name is the real module's."""

    def __init__(self) -> None:
        super().__init__("multiprocessing")

    def get_context(self, method: str | None = None) -> Any:
        if method != "spawn":
            return multiprocessing.get_context(method)
        _restart_if_code_changed()
        return WARM

    def __getattr__(self, name: str) -> Any:
        return getattr(multiprocessing, name)


_loaded_code: int | None = None
"""``code_version()`` when the running fork server started."""


def code_version() -> int:
    """A fingerprint of the project's Python files: each one's path and modification time
    (an edit, a new file or a deleted one changes it)."""
    files = sorted(f for package in CODE for f in package.rglob("*.py"))
    return hash(tuple((str(f), f.stat().st_mtime_ns) for f in files))


def _restart_if_code_changed() -> None:
    global _loaded_code
    version = code_version()
    if _loaded_code is not None and version != _loaded_code:
        log.info("the pipeline's code changed: restarting the warm fork server (this run starts cold)")
        stop_fork_server = getattr(multiprocessing.forkserver._forkserver, "_stop", None)
        if stop_fork_server is not None:
            stop_fork_server()
    _loaded_code = version


def available() -> bool:
    """Forking needs a POSIX system with ``forkserver`` (Linux, macOS)."""
    return "forkserver" in multiprocessing.get_all_start_methods()


def install() -> bool:
    """Start served runs warm from now on, in this process; False where it cannot (the
    runs then start as Prefect starts them)."""
    import prefect.flow_engine

    if not available():
        return False
    WARM.set_forkserver_preload(PRELOAD)
    if not isinstance(prefect.flow_engine.multiprocessing, _Multiprocessing):
        prefect.flow_engine.multiprocessing = _Multiprocessing()
    return True


def installed() -> bool:
    import prefect.flow_engine

    return isinstance(prefect.flow_engine.multiprocessing, _Multiprocessing)


def start_in_background() -> threading.Thread:
    """Start the fork server now (its imports take seconds) rather than at the first run."""

    global _loaded_code
    _loaded_code = code_version()

    def start() -> None:
        try:
            multiprocessing.forkserver.ensure_running()
        except Exception as error:  # noqa: BLE001 - the first run starts it instead
            log.warning("could not start the warm fork server now: %s: %s", type(error).__name__, error)

    thread = threading.Thread(target=start, name="warm-fork-server", daemon=True)
    thread.start()
    return thread
