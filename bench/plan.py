"""What one benchmark run measures: partition sizes, the backfill range, repeats.

Every scenario gets partition days of its own, so no scenario finds another's ledger rows or
cached results: single partitions live in June 2025 (one day per size), the backfill starts on
2026-01-01.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Log = Callable[[str], None]
"""Where a scenario writes its progress lines (``runner.Progress``, else ``print``)."""

FULL_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (1_000, 10_000)
FULL_SCALING = (30, 90, 365)
QUICK_SCALING = (3, 6)
"""Range lengths of the scaling scenario (forced backfills of the first N backfill days)."""
SINGLE_START = dt.date(2025, 6, 1)
BACKFILL_START = dt.date(2026, 1, 1)
TARGET_SIZE = 1_000_000
"""The partition size the targets are defined at."""

RESULTS_DIR = Path(__file__).resolve().parent / "results"

SCENARIOS = (
    "single",
    "fingerprint",
    "backfill",
    "whole",
    "commands",
    "floor",
    "scaling",
    "whole_long",
    "verify_range",
    "heal_pass",
    "multi_run",
    "landed_file",
    "landing_latency",
)
"""Every scenario ``--only`` / ``--skip`` can name, in the order a run measures them."""
BACKFILL_SCENARIOS = frozenset(SCENARIOS) - {"single", "fingerprint", "landed_file", "landing_latency"}
"""What ``--no-backfill`` leaves out: the scenarios over the backfill-sized days."""
OWN_TARGETS = {"multi_run": "bench-multi-run", "verify_range": "bench-extra", "heal_pass": "bench-extra"}
"""Scenarios ``make bench`` leaves to a target of their own (and ``--only``), to stay near 15
minutes: the multi-run comparison, and two reported figures of earlier issues."""
DEFAULT_SCENARIOS = tuple(s for s in SCENARIOS if s not in OWN_TARGETS)
"""``make bench``: every scenario but those of ``OWN_TARGETS``."""
LANDING_FILES = 6
"""Files landed per mode by the landing latency scenario (``--quick``: 2)."""
JUDGED_SCENARIOS = ("single", "backfill", "whole", "commands", "scaling")
"""``--judged`` (``make bench-quick``): the scenarios the targets judge, nothing else."""
JUDGED_SIZES = (10_000, 1_000_000)
JUDGED_SCALING = (30, 90)
"""The longest range must add more than ``MAX_MISSING_DAYS_SEARCHED`` (31) never-published days
to the 30 the backfill published: a first fill of up to 31 days searches each for moved orders
(seconds a day), so 30 vs 60 would compare two different kinds of run."""

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$")


def parse_size(text: str) -> int:
    """``10k`` -> 10000, ``1M`` -> 1000000, ``2500`` -> 2500."""
    match = _SIZE.match(text)
    if not match:
        try:
            value = int(float(text))
        except ValueError:
            raise ValueError(f"not a size: {text!r} (use e.g. 10k, 100k, 1M)") from None
    else:
        number, unit = match.groups()
        value = int(float(number) * {"": 1, "k": 1_000, "m": 1_000_000}[unit.lower()])
    if value < 1:
        raise ValueError(f"size must be at least 1 order, not {text!r}")
    return value


def parse_sizes(text: str) -> tuple[int, ...]:
    sizes = sorted({parse_size(part) for part in text.split(",") if part.strip()})
    if not sizes:
        raise ValueError("no sizes given")
    return tuple(sizes)


def human(n: int) -> str:
    """10000 -> ``10k``, 1000000 -> ``1M``, 2500 -> ``2.5k``."""
    for unit, scale in (("M", 1_000_000), ("k", 1_000)):
        if n >= scale:
            value = n / scale
            return f"{value:g}{unit}" if value == int(value) or value >= 10 else f"{value:.1f}{unit}"
    return str(n)


@dataclass(frozen=True)
class Plan:
    sizes: tuple[int, ...] = FULL_SIZES
    backfill_days: int = 30
    backfill_orders_per_day: int = 10_000
    concurrency: int = 4
    repeat: int = 3
    seed: int = 7
    quick: bool = False
    database_url: str | None = None
    results_dir: Path = RESULTS_DIR
    strict: bool = False
    skip_backfill: bool = False
    scaling_days: tuple[int, ...] = FULL_SCALING
    whole_repeats: int = 2
    """Runs of each whole-process command (the Dagster baseline, our CLI backfill)."""
    scenarios: tuple[str, ...] = DEFAULT_SCENARIOS
    """The scenarios this run measures (a subset of ``SCENARIOS``, in that order)."""
    judged: bool = False

    def runs(self, scenario: str) -> bool:
        """Whether this run measures ``scenario`` (one of ``SCENARIOS``)."""
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}")
        return scenario in self.scenarios and not (self.skip_backfill and scenario in BACKFILL_SCENARIOS)

    @property
    def long_days(self) -> int:
        """The long whole-process comparison's range: every loaded day (the longest scaling
        range, 365 in the full run)."""
        return self.loaded_days

    def results_path(self, started_at: dt.datetime) -> Path:
        """The run's results file, named once when it starts (rewritten after each scenario)."""
        return self.results_dir / f"{started_at.strftime('%Y%m%dT%H%M%SZ')}.json"

    def single_day(self, size: int) -> dt.date:
        return SINGLE_START + dt.timedelta(days=self.sizes.index(size))

    @property
    def backfill_start(self) -> dt.date:
        return BACKFILL_START

    @property
    def backfill_end(self) -> dt.date:
        return BACKFILL_START + dt.timedelta(days=self.backfill_days - 1)

    @property
    def loaded_days(self) -> int:
        """Days of backfill-sized orders loaded: the backfill's and the longest scaling range."""
        return max([self.backfill_days, *self.scaling_days])

    @property
    def backfill_partitions(self) -> list[dt.date]:
        return [BACKFILL_START + dt.timedelta(days=i) for i in range(self.backfill_days)]

    def repeats_for(self, size: int) -> int:
        """Repeats of a single-partition measurement: ``repeat``, but never more than about
        1M orders' worth per scenario (a 1M partition runs once)."""
        return max(1, min(self.repeat, TARGET_SIZE // size))

    def baseline_rounds(self, size: int) -> int:
        """Rounds of the textbook pipeline, each paired with one pipeline extract: at least
        three (two in --quick), so the extract speedup is a median, not one pair; with
        --judged, one round of a size that runs once (1M: read_sql alone takes ~8 s)."""
        if self.judged:
            return self.repeats_for(size)
        return max(2 if self.quick else 3, self.repeats_for(size))

    @property
    def largest(self) -> int:
        return self.sizes[-1]

    @classmethod
    def from_dict(cls, recorded: dict[str, Any]) -> Plan:
        """The plan a results file records (``as_dict``), as far as its report needs it: the
        sizes, the backfill, the scaling ranges, the repeats (not the database URL)."""
        backfill = recorded["backfill"]
        return cls(
            sizes=tuple(recorded["sizes"]),
            backfill_days=backfill["days"] if backfill else cls.backfill_days,
            backfill_orders_per_day=backfill["orders_per_day"] if backfill else cls.backfill_orders_per_day,
            concurrency=backfill["max_concurrency"] if backfill else cls.concurrency,
            repeat=max(recorded["repeats"].values(), default=cls.repeat),
            seed=recorded["seed"],
            quick=recorded["quick"],
            judged=recorded["judged"],
            skip_backfill=backfill is None,
            scaling_days=tuple(recorded["scaling_days"] or ()) or cls.scaling_days,
            whole_repeats=recorded["whole_repeats"],
            scenarios=tuple(recorded["scenarios"]),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "sizes": list(self.sizes),
            "single_partition_days": {str(s): self.single_day(s).isoformat() for s in self.sizes},
            "repeats": {str(s): self.repeats_for(s) for s in self.sizes},
            "baseline_rounds": {str(s): self.baseline_rounds(s) for s in self.sizes},
            "backfill": None
            if self.skip_backfill
            else {
                "start": self.backfill_start.isoformat(),
                "end": self.backfill_end.isoformat(),
                "days": self.backfill_days,
                "orders_per_day": self.backfill_orders_per_day,
                "max_concurrency": self.concurrency,
            },
            "scaling_days": None if self.skip_backfill else list(self.scaling_days),
            "whole_repeats": self.whole_repeats,
            "seed": self.seed,
            "quick": self.quick,
            "judged": self.judged,
            "scenarios": [s for s in self.scenarios if self.runs(s)],
            "target_size": TARGET_SIZE,
        }
