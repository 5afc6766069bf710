"""Reading a landed file in a child process with a memory cap, so one file cannot take the
memory (or the life) of the process that plans other days.

``read_isolated`` hands a file's bytes to a child process forked from a ``forkserver``
(started once per process, with ``revenue.io.landed_files`` and its pandas/pyarrow already
imported: a read costs ~0.1 s of process start instead of the ~1.5 s a fresh interpreter
takes to import them). The child caps its address space (``RLIMIT_AS``: what it had when
forked plus ``memory_mb``), parses the file, splits it by day and sends back only what the
registry records: the rows per day and the rows no day can take. Whatever the child does,
the caller gets one of three answers:

- a ``FileSummary``: the file was read;
- ``LandedFileError``: the file is not a readable orders file (the reader's own reason);
- ``ReaderDied``: the reader did not finish: it ran out of its memory, raised anything else
  (a bug), was killed (the OOM killer, a signal) or took longer than ``timeout`` seconds.

Settings (environment variables of the process that plans, read on each call):

- ``REVENUE_LANDING_READ_MEMORY_MB`` (default 1024): memory a file's reading may take.
- ``REVENUE_LANDING_READ_SECONDS`` (default 300): time a file's reading may take.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import resource
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection

import pandas as pd

from revenue.io.landed_files import LandedFileError

DEFAULT_MEMORY_MB = 1024
DEFAULT_SECONDS = 300.0
_PRELOAD = ["revenue.io.landed_files"]
_context_lock = threading.Lock()
_context: multiprocessing.context.ForkServerContext | None = None


class ReaderDied(Exception):
    """The reading of a file stopped without an answer; ``reason`` says how."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)

    def __reduce__(self):
        return (type(self), (self.reason,))


@dataclass(frozen=True)
class FileSummary:
    """What reading a file found: its rows per day and the rows no day can take."""

    days: dict[dt.date, int]
    rejects: pd.DataFrame

    @property
    def rows(self) -> int:
        return sum(self.days.values()) + len(self.rejects)


@dataclass(frozen=True)
class ReadLimits:
    """The memory and time one file's reading may take."""

    memory_mb: int = DEFAULT_MEMORY_MB
    seconds: float = DEFAULT_SECONDS

    @classmethod
    def from_environ(cls) -> ReadLimits:
        return cls(
            memory_mb=int(os.environ.get("REVENUE_LANDING_READ_MEMORY_MB") or DEFAULT_MEMORY_MB),
            seconds=float(os.environ.get("REVENUE_LANDING_READ_SECONDS") or DEFAULT_SECONDS),
        )


def summarise(data: bytes, uri: str) -> FileSummary:
    """Read and split a file here (what the child runs)."""
    from revenue.io.landed_files import read_landed_file, split_by_day

    landed = read_landed_file(data, uri)
    by_day, unassigned = split_by_day(landed.rows)
    rejects = pd.concat([landed.bad_rows, unassigned], ignore_index=True) if len(landed.bad_rows) else unassigned
    return FileSummary({day: len(rows) for day, rows in by_day.items()}, rejects)


def read_isolated(
    data: bytes,
    uri: str,
    limits: ReadLimits,
    still_mine: Callable[[], None] = lambda: None,
) -> FileSummary:
    """Read ``data`` (the file ``uri``) in a child process within ``limits``.

    ``still_mine`` is called about every few seconds while the child reads (the caller
    renews its lease there; an exception it raises stops the child and is raised).

    Raises:
        LandedFileError: the file cannot be read (the reader's reason).
        ReaderDied: the reading did not finish (memory, a bug, a signal, the time limit).
    """
    receive, send = _forkserver().Pipe(duplex=False)
    child = _forkserver().Process(
        target=_child, args=(send, data, uri, limits.memory_mb), name=f"read {uri}"[:60], daemon=True
    )
    child.start()
    send.close()
    try:
        answer = _wait(receive, child, limits.seconds, still_mine)
    finally:
        receive.close()
        if child.is_alive():
            child.kill()
        child.join()
    if answer is None:
        raise ReaderDied(_how_it_stopped(child.exitcode))
    kind, value = answer
    if kind == "read":
        return value
    if kind == "unreadable":
        raise value
    raise ReaderDied(value if kind == "died" else f"reading it needed more than {limits.memory_mb} MiB of memory")


def _wait(
    receive: Connection, child: multiprocessing.process.BaseProcess, seconds: float, still_mine: Callable[[], None]
):
    """The child's answer, or None when it stopped without one; kills it past ``seconds``."""
    deadline = _monotonic() + seconds
    while True:
        left = deadline - _monotonic()
        if left <= 0:
            child.kill()
            raise ReaderDied(f"reading it took longer than {seconds:g} s")
        if receive.poll(min(left, 5.0)):
            try:
                return receive.recv()
            except EOFError:  # the child died before answering
                return None
        if not child.is_alive() and not receive.poll(0):
            return None
        still_mine()


def _how_it_stopped(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name if -exitcode in signal.valid_signals() else str(-exitcode)
        cause = " (out of memory?)" if -exitcode == signal.SIGKILL else ""
        return f"reading it was stopped by signal {name}{cause}"
    return f"reading it stopped without an answer (exit code {exitcode})"


def _child(send: Connection, data: bytes, uri: str, memory_mb: int) -> None:
    """In the child: cap the address space, read, answer (never raise: say what happened)."""
    try:
        _cap_memory(memory_mb)
        answer: tuple[str, object] = ("read", summarise(data, uri))
    except LandedFileError as error:
        answer = ("unreadable", LandedFileError(error.key, error.reason))
    except MemoryError:
        answer = ("memory", "")
    except BaseException as error:  # a bug in the reader: the file is what cannot be read
        answer = ("died", f"the reader failed ({type(error).__name__}: {str(error)[:200]})")
    del data
    try:
        send.send(answer)
    except MemoryError:
        send.send(("memory", ""))
    finally:
        send.close()


def _cap_memory(memory_mb: int) -> None:
    """Allow the process ``memory_mb`` MiB of address space beyond what it holds now.

    Arrow's allocator (mimalloc) reserves a large arena on its first allocation: it is made
    first, so the cap counts from there (capped before, a two-row CSV could not be read
    under a 1024 MiB cap while 48 MiB worked: the arena took the whole cap)."""
    import pyarrow as pa

    pa.allocate_buffer(64)
    with open("/proc/self/status") as status:
        held_kb = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
    cap = held_kb * 1024 + memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def _forkserver() -> multiprocessing.context.ForkServerContext:
    """The process's forkserver context (its server starts on the first read)."""
    global _context
    with _context_lock:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(_PRELOAD)
            _context = context
        return _context


def _monotonic() -> float:
    import time

    return time.monotonic()
