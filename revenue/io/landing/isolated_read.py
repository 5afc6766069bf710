"""Reading a landed file in a child process with a memory cap, so one file cannot take the
memory (or the life) of the process that plans other days.

``read_isolated`` hands a file's bytes to a fresh interpreter (``python -m
revenue.io.landing.isolated_read``), which imports the reader, caps its address space
(``RLIMIT_AS``: what it holds then plus the ``read_memory`` limit), parses the file, splits it by day and
sends back only what the registry records: the rows per day and the rows no day can take.
Whatever the child does, the caller gets one of three answers:

- a ``FileSummary``: the file was read;
- ``LandedFileError``: the file is not a readable orders file (the reader's own reason);
- ``ReaderDied``: the reader did not finish: it ran out of its memory, raised anything else
  (a bug), was killed (the OOM killer, a signal) or took longer than ``read_seconds``.

A fresh interpreter costs 0.6 to 1.3 s (importing pandas and pyarrow, compiled bytecode),
paid once in a file's life: only a pending file is read this way (docs/reliability.md,
"A file that cannot be read fails its own days only").

Its memory and time are limits of ``revenue.io.landing.limits.LandingLimits`` (``read_memory``,
``read_seconds``), read with the others by the process that plans and handed to the child,
which reads the file within the same limits.
"""

from __future__ import annotations

import datetime as dt
import os
import pickle
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from revenue.io.landing.files import LandedFileError
from revenue.io.landing.limits import LandingLimits, human_bytes

CHECK_EVERY = 5.0
"""Seconds between two calls of ``still_mine`` while a child reads."""
Answer = Literal["read", "unreadable", "memory", "died"]
"""How the child's reading ended, the first item of its pickled answer."""


class ReaderDied(Exception):
    """The reading of a file stopped without an answer; ``reason`` says how."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)

    def __reduce__(self) -> tuple[type[ReaderDied], tuple[str]]:
        return (type(self), (self.reason,))


@dataclass(frozen=True)
class FileSummary:
    """What reading a file found: its rows per day and the rows no day can take."""

    days: dict[dt.date, int]
    rejects: pd.DataFrame
    orders: pd.DataFrame | None = None
    """``revenue.transforms.identity.landed_order_days`` of the file: the days each order
    has a valid version on, and the day of its newest."""

    @property
    def rows(self) -> int:
        return sum(self.days.values()) + len(self.rejects)


def summarise(data: bytes, uri: str, limits: LandingLimits) -> FileSummary:
    """Read and split a file here (what the child runs)."""
    from revenue.io.landing.days import read_and_split
    from revenue.transforms.identity import landed_order_days

    by_day, rejects = read_and_split(data, uri, limits)
    return FileSummary({day: len(rows) for day, rows in by_day.items()}, rejects, landed_order_days(by_day))


def read_isolated(
    data: bytes,
    uri: str,
    limits: LandingLimits,
    still_mine: Callable[[], None] = lambda: None,
) -> FileSummary:
    """Read ``data`` (the file ``uri``) in a child process within ``limits``.

    ``still_mine`` is called every ``CHECK_EVERY`` seconds while the child reads (the caller
    renews its lease there; an exception it raises stops the child and is raised).

    Raises:
        LandedFileError: the file cannot be read (the reader's reason).
        ReaderDied: the reading did not finish (memory, a bug, a signal, the time limit).
    """
    with tempfile.TemporaryFile() as request:  # a file, not a pipe: the child reads it at its own pace
        pickle.dump((data, uri, limits), request)
        request.seek(0)
        child = subprocess.Popen(
            [sys.executable, "-m", "revenue.io.landing.isolated_read"],
            stdin=request,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
        )
    try:
        out, err = _communicate(child, limits.read_seconds, still_mine)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    try:
        kind, value = pickle.loads(out)
    except Exception:  # noqa: BLE001 - no answer: how it stopped is the answer
        raise ReaderDied(_how_it_stopped(child.returncode, err)) from None
    if kind == "read":
        return value
    if kind == "unreadable":
        raise value
    raise ReaderDied(
        value if kind == "died" else f"reading it needed more than {human_bytes(limits.read_memory)} of memory"
    )


def _communicate(child: subprocess.Popen[bytes], seconds: float, still_mine: Callable[[], None]) -> tuple[bytes, bytes]:
    """The child's output once it exits; kills it past ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ReaderDied(f"reading it took longer than {seconds:g} s")
        try:
            return child.communicate(timeout=min(left, CHECK_EVERY))
        except subprocess.TimeoutExpired:
            still_mine()


def _how_it_stopped(exitcode: int | None, stderr: bytes = b"") -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name if -exitcode in signal.valid_signals() else str(-exitcode)
        cause = " (out of memory?)" if -exitcode == signal.SIGKILL else ""
        return f"reading it was stopped by signal {name}{cause}"
    last = stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
    return f"reading it stopped without an answer (exit code {exitcode}){': ' + last[0][:200] if last[0] else ''}"


def _answer(data: bytes, uri: str, limits: LandingLimits) -> tuple[Answer, object]:
    """In the child: cap the address space, read, say what happened (never raise)."""
    try:
        _cap_memory(limits.read_memory)
        return ("read", summarise(data, uri, limits))
    except LandedFileError as error:
        return ("unreadable", LandedFileError(error.key, error.reason))
    except MemoryError:
        return ("memory", "")
    except BaseException as error:  # a bug in the reader: the file is what cannot be read
        return ("died", f"the reader failed ({type(error).__name__}: {str(error)[:200]})")


def main() -> None:
    """The child: the request on stdin, the answer on stdout (both pickled)."""
    data, uri, limits = pickle.load(sys.stdin.buffer)
    answer = _answer(data, uri, limits)
    del data
    try:
        out = pickle.dumps(answer)
    except MemoryError:
        out = pickle.dumps(("memory", ""))
    sys.stdout.buffer.write(out)
    sys.stdout.buffer.flush()


def _cap_memory(memory: int) -> None:
    """Allow the process ``memory`` bytes of address space beyond what it holds now
    (Linux; where there is no ``/proc`` the child reads uncapped, still on its own).

    Arrow's allocator (mimalloc) reserves a large arena on its first allocation, and its
    thread pool reserves stacks: both are made first, so the cap counts from there (capped
    before, a two-row CSV could not be read under a 1024 MiB cap while 48 MiB worked: the
    arena took the whole cap)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    pa.allocate_buffer(64)
    pc.sum(pa.array([1]))  # Arrow's thread pool started before the cap, not refused by it
    try:
        with open("/proc/self/status") as status:
            held_kb = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
    except (OSError, StopIteration):  # no /proc (macOS): no cap; the child still dies alone
        return
    cap = held_kb * 1024 + memory
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


if __name__ == "__main__":  # under its own name, so what it pickles unpickles in the caller
    from revenue.io.landing.isolated_read import main as child_main

    child_main()
