"""Served flow runs start warm: forked from a process that has imported the pipeline.

Prefect's runner (``flows.served.serve``: what ``revenue dev`` and ``revenue serve`` run)
starts each run of a served flow in a new interpreter (``run_flow_in_subprocess``,
multiprocessing's ``spawn``), which imports Prefect, pandas, pyarrow and the flows and
builds Great Expectations' context again before the run's code runs: most of the seconds
between a landed file and its published day when the file is small (docs/operations.md,
"Seconds from a landed file to published revenue").

``install()`` makes the serving process start those runs with multiprocessing's
``forkserver`` instead: one server process, started once (by ``install``), imports
``flows.warm_preload`` (the flows, pandas, pyarrow, Great Expectations, whose context and
suites it builds), then forks one child per run. Each run still has a process of its own
(its memory returns when it ends, a crash or a kill ends that run only, cancellation stops
it as before) and goes through Prefect's engine exactly as a spawned run does; it just
starts with everything loaded. The server process starts no thread before it forks (a
forked thread would be lost), which ``tests/integration/test_warm_start.py`` checks.

A run starts warm only once the fork server is *ready* (its preload done: a first child
forked and ended); until then, and whenever it cannot be, the run is spawned as Prefect
spawns it, so the runner never waits on a preload (it starts runs from its event loop) and a
preload that fails shows its real error in the run that imports the same code.

Code edited while serving: before a run starts, the modules' files under ``flows/``,
``revenue/`` and ``blocks/`` are compared with what the fork server loaded (one ``stat``
each, about a millisecond in all). After a change the fork server is *stale*: runs are
spawned (fresh code, cold) until no run it forked is left, then it is replaced in the
background and runs go warm again. It is never stopped under a running run.

A run's process also ends when the serving process dies, warm or spawned: the fork server
exits when the serving process's end of their pipe closes (each run's process closes its
inherited copy), and a run's process asks the kernel for SIGTERM when its parent goes
(``PR_SET_PDEATHSIG``; the fork server for a warm run, the serving process for a spawned
one), checking right after that its parent is still the one that started it.

Only the runner's starts change: ``prefect.flow_engine.run_flow_in_subprocess`` is the one
place that asks for a ``spawn`` context (``prefect.runner._starter_direct`` calls it for
every served flow), and ``install`` gives that module a ``multiprocessing`` whose
``get_context("spawn")`` is one of the two contexts here; everything else is the real module.
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
"""The project's packages the fork server loads: a change to one makes it stale."""


class WarmProcess(multiprocessing.context.ForkServerProcess):
    """A run's process, forked from the warm server: it asks for SIGTERM when the server
    (its parent) dies, then runs the run as Prefect handed it."""

    def run(self) -> None:
        _leave_the_fork_server()
        _die_with_parent()
        super().run()


class SpawnedProcess(multiprocessing.context.SpawnProcess):
    """A run's process spawned as Prefect spawns it, which also ends with the serving process."""

    def run(self) -> None:
        _die_with_parent()
        super().run()


class WarmContext(multiprocessing.context.ForkServerContext):
    Process = WarmProcess


class SpawnedContext(multiprocessing.context.SpawnContext):
    Process = SpawnedProcess


WARM = WarmContext()
SPAWNED = SpawnedContext()


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
    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: the child outlives a killed parent
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _ready_probe() -> None:
    """The first child the fork server forks: its end says the preload is done."""


class _Multiprocessing(ModuleType):
    """``multiprocessing`` as ``prefect.flow_engine`` sees it once installed: its ``spawn``
    context is the warm one when the fork server is ready and current, else one that spawns;
    every other name is the real module's."""

    def __init__(self) -> None:
        super().__init__("multiprocessing")

    def get_context(self, method: str | None = None) -> Any:
        if method != "spawn":
            return multiprocessing.get_context(method)
        return _context_for_a_run()

    def __getattr__(self, name: str) -> Any:
        return getattr(multiprocessing, name)


_lock = threading.Lock()
_warm = False
"""Whether runs should start warm (``install(warm=True)``)."""
_ready = threading.Event()
"""The fork server has preloaded and forks (set by ``_warm_up``)."""
_loaded_code: int | None = None
"""``code_version()`` of what the current fork server loaded."""
_stale = False
"""The code changed since the fork server loaded it: replace it once no run of it is left."""


def code_version() -> int:
    """A fingerprint of the project's Python files: each one's path and modification time
    (an edit, a new file or a deleted one changes it)."""
    files = sorted(f for package in CODE for f in package.rglob("*.py"))
    return hash(tuple((str(f), f.stat().st_mtime_ns) for f in files))


def _warm_children() -> list[multiprocessing.process.BaseProcess]:
    return [p for p in multiprocessing.active_children() if isinstance(p, WarmProcess)]


def _context_for_a_run() -> Any:
    """The context the next run starts from: warm when the fork server is ready and holds
    the current code, else spawned (and a stale fork server is replaced once idle)."""
    global _stale, _loaded_code
    if not _warm:
        return SPAWNED
    with _lock:
        version = code_version()
        if not _stale and _loaded_code is not None and version != _loaded_code:
            log.info("the pipeline's code changed: runs start cold until the warm fork server is replaced")
            _stale = True
        if _stale and not _warm_children():
            _stale, _loaded_code = False, version
            _ready.clear()
            _replace_in_background()
            return SPAWNED
        return WARM if _ready.is_set() and not _stale else SPAWNED


def _replace_in_background() -> None:
    threading.Thread(target=_warm_up, args=(True,), name="warm-fork-server", daemon=True).start()


def _warm_up(replace: bool = False) -> None:
    """Start the fork server (after stopping the idle stale one when ``replace``), wait for
    its preload through a first child, and mark it ready; on failure runs stay spawned."""
    try:
        if replace:
            stop = getattr(multiprocessing.forkserver._forkserver, "_stop", None)
            if stop is not None:
                stop()
        probe = WARM.Process(target=_ready_probe, name="warm-fork-server-ready", daemon=True)
        probe.start()
        probe.join()
        if probe.exitcode != 0:
            raise RuntimeError(f"its first child ended with {probe.exitcode}")
        _ready.set()
    except Exception as error:  # noqa: BLE001 - runs start spawned instead, with their own errors
        log.warning("the warm fork server is not available; runs start cold: %s: %s", type(error).__name__, error)


def available() -> bool:
    """Forking needs a POSIX system with ``forkserver`` (Linux, macOS)."""
    return "forkserver" in multiprocessing.get_all_start_methods()


def install(warm: bool = True) -> bool:
    """Start served runs, in this process, as processes that end with it, forked warm
    (``warm``) where it can, the fork server starting in the background now; returns
    whether they start warm."""
    import prefect.flow_engine

    global _warm, _loaded_code
    _warm = warm and available()
    engine = vars(prefect.flow_engine)  # its own ``import multiprocessing``, not an attribute it exports
    if not isinstance(engine["multiprocessing"], _Multiprocessing):
        engine["multiprocessing"] = _Multiprocessing()
    if _warm:  # started now, its imports taking seconds, rather than at the first run
        WARM.set_forkserver_preload(PRELOAD)
        _loaded_code = code_version()
        threading.Thread(target=_warm_up, name="warm-fork-server", daemon=True).start()
    return _warm
