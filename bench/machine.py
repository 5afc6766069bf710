"""The machine a benchmark ran on: cores, memory, CPU, load, library versions."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import Any

PACKAGES = (
    "prefect",
    "prefect-aws",
    "prefect-sqlalchemy",
    "pandas",
    "numpy",
    "pyarrow",
    "great-expectations",
    "sqlalchemy",
    "psycopg",
    "psycopg-binary",
    "boto3",
    "moto",
    "pgserver",
)


def _meminfo_total_bytes() -> int | None:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _cgroup_cpu_limit() -> str | None:
    try:
        with open("/sys/fs/cgroup/cpu.max") as limit:
            quota, period = limit.read().split()
        return None if quota == "max" else f"{int(quota) / int(period):g} cpus"
    except (OSError, ValueError):
        return None


def _cgroup_memory_limit() -> int | None:
    try:
        with open("/sys/fs/cgroup/memory.max") as limit:
            value = limit.read().strip()
        return None if value == "max" else int(value)
    except (OSError, ValueError):
        return None


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine_info() -> dict[str, Any]:
    versions: dict[str, str] = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    usable: int | None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    memory = _meminfo_total_bytes()
    return {
        "nproc": usable,
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "cgroup_cpu_limit": _cgroup_cpu_limit(),
        "memory_total_bytes": memory,
        "memory_total_gib": round(memory / 2**30, 1) if memory else None,
        "cgroup_memory_limit_bytes": _cgroup_memory_limit(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "versions": versions,
        "load_average_at_start": load_average(),
    }
