"""Run one scenario in a fresh process, and read that process's memory.

Each scenario runs in its own spawned interpreter so one scenario's memory never hides
another's, and so every scenario pays the same imports. Memory comes from
``/proc/self/status``: ``VmRSS`` (resident now) and ``VmHWM`` (the peak resident set of this
process image). ``ru_maxrss`` is recorded too but not used for the figures: on Linux it is
carried over ``fork`` + ``exec`` and can report the (large) parent's size for a small child.
Figures are in MB (10^6 bytes), so "under 1 GB" means under 1000 MB.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

MB = 1_000_000


def run_in_child(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a new spawned process; its exception is re-raised here."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(fn, *args).result()


def _status() -> dict[str, int]:
    values: dict[str, int] = {}
    try:
        with open("/proc/self/status") as status:
            for line in status:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    values[key] = int(rest.split()[0]) * 1024  # kB
    except OSError:  # not Linux: fall back to getrusage (kB on Linux, bytes on macOS)
        pass
    return values


def _ru_maxrss_bytes() -> int:
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value if os.uname().sysname == "Darwin" else value * 1024


def rss_mb() -> float:
    """Resident set size now, MB."""
    status = _status()
    return round(status.get("VmRSS", _ru_maxrss_bytes()) / MB, 1)


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MB."""
    status = _status()
    return round(status.get("VmHWM", _ru_maxrss_bytes()) / MB, 1)


def memory_snapshot() -> dict[str, float]:
    return {
        "rss_mb": rss_mb(),
        "peak_rss_mb": peak_rss_mb(),
        "ru_maxrss_mb": round(_ru_maxrss_bytes() / MB, 1),
    }


def quiet_child() -> None:
    """Settings every scenario process starts with (inherited env covers Prefect's)."""
    import logging
    import warnings

    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    warnings.filterwarnings("ignore")
    logging.getLogger("great_expectations").setLevel(logging.ERROR)


def process_cpu_s() -> float:
    """CPU seconds this process (every thread) has used."""
    import time

    return time.process_time()


def proc_stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (index 1 is the parent
    pid, 11-14 utime, stime, cutime, cstime in clock ticks), or None (Linux only)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_stats() -> dict[int, list[str]]:
    """``proc_stat`` of every live process."""
    try:
        pids = [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return {}
    stats = {pid: proc_stat(pid) for pid in pids}
    return {pid: fields for pid, fields in stats.items() if fields is not None}


def ticks_s(fields: list[str], first: int, last: int) -> float:
    """Seconds in the clock-tick fields ``first``..``last`` of a ``proc_stat``."""
    return sum(int(f) for f in fields[first : last + 1]) / os.sysconf("SC_CLK_TCK")


def other_process_cpu_s(pid: int | None) -> float | None:
    """CPU seconds another process has used (Linux ``/proc``), or None."""
    fields = proc_stat(pid) if pid else None
    return None if fields is None else ticks_s(fields, 11, 12)


def find_child_process(marker: str) -> int | None:
    """The pid of a child of this process whose command line contains ``marker`` (Linux)."""
    me = os.getpid()
    for pid, fields in process_stats().items():
        if int(fields[1]) != me:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                if marker.encode() in cmdline.read():
                    return pid
        except OSError:
            continue
    return None


class CpuMeter:
    """CPU used while the block runs: by this process (every thread), by the Prefect API
    server, and by the benchmark's main process, which hosts the moto S3 server (and otherwise
    only waits for this scenario)."""

    def __init__(self, server_pid: int | None, s3_pid: int | None = None) -> None:
        self.server_pid = server_pid
        self.s3_pid = s3_pid

    def __enter__(self) -> "CpuMeter":
        self._self = process_cpu_s()
        self._server = other_process_cpu_s(self.server_pid)
        self._s3 = other_process_cpu_s(self.s3_pid)
        return self

    def __exit__(self, *exc: object) -> None:
        self.process_cpu_s = round(process_cpu_s() - self._self, 3)
        self.api_server_cpu_s = _delta(self._server, other_process_cpu_s(self.server_pid))
        self.s3_cpu_s = _delta(self._s3, other_process_cpu_s(self.s3_pid))

    def as_dict(self) -> dict[str, float | None]:
        return {
            "process_cpu_s": self.process_cpu_s,
            "api_server_cpu_s": self.api_server_cpu_s,
            "s3_cpu_s": self.s3_cpu_s,
        }


def _delta(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else round(after - before, 3)
