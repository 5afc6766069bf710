"""How big a landed file may be, and the error for one that cannot be read.

A landing zone is written by other systems and people, so a file's size is untrusted: a
1 MB gzip can inflate to gigabytes, a 300 KB Parquet file can hold 20M rows. Every limit
below is checked before or while a file is read, never after it is in memory, and a file
over one is refused with a ``LandingLimitError`` (a ``LandedFileError``, so it is
recorded ``unreadable`` like any other file that cannot be read) naming the file, the
limit and the setting that changes it.

=================  ==================================  ==========  ==========================
limit              setting                             default     what it bounds
=================  ==================================  ==========  ==========================
``object_bytes``   ``REVENUE_LANDING_MAX_OBJECT_BYTES``    256 MiB  the object as stored (gzip
                                                                    included): checked from its
                                                                    size before it is fetched
``inflated_bytes`` ``REVENUE_LANDING_MAX_INFLATED_BYTES``  512 MiB  the file after gzip, as it
                                                                    is inflated; for Parquet
                                                                    also its columns'
                                                                    uncompressed size (footer)
``rows``           ``REVENUE_LANDING_MAX_ROWS``          2,000,000  data rows (CSV: counted
                                                                    while scanning; Parquet:
                                                                    from the footer)
``columns``        ``REVENUE_LANDING_MAX_COLUMNS``             100  header fields / Parquet
                                                                    columns
``fields``         ``REVENUE_LANDING_MAX_FIELDS``       25,000,000  rows x columns: what the
                                                                    frame's size grows with
``line_chars``     ``REVENUE_LANDING_MAX_LINE_CHARS``       65,536  characters of one CSV
                                                                    record (quoted line breaks
                                                                    and line ends included)
``read_memory``    ``REVENUE_LANDING_MAX_READ_MEMORY``    1.5 GiB  address space the reading
                                                                    child may add to what it
                                                                    holds after its imports
                                                                    (``revenue.io.landing.isolated_read``)
``read_seconds``   ``REVENUE_LANDING_MAX_READ_SECONDS``       300  seconds the reading child
                                                                    may take
=================  ==================================  ==========  ==========================

Byte settings take a whole number with an optional ``KiB``, ``MiB`` or ``GiB`` suffix
(``512MiB``); counts take a whole number (``2000000`` or ``2_000_000``). A setting that is
not a positive whole number is a ``ConfigurationError`` naming it (read it once, up front:
``LandingLimits.from_environment()``), never a silent fallback.

The defaults fit a large shop's daily orders file with room (1M orders in 6 columns are
56 MB of CSV and 6M fields) and bound what reading one file costs. The reader holds the
object's bytes, the frame it builds (its text plus ~13 bytes a field while reading) and a
few MiB of chunks, never the inflated file or its decoded text: at most about
256 MiB + 512 MiB + 25M x 13 B, ~1.1 GB, for a file shaped to meet every limit at once
(the README's "Limits on a landed file" has the measured figures).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from revenue.errors import ConfigurationError, DataError

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


class LandedFileError(DataError):
    """A landed file that cannot be read as orders; ``str()`` names the key and the reason."""

    key: str
    reason: str

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"landed file {key}: {reason}")
        self.key = key
        self.reason = reason

    def __reduce__(self) -> tuple[type[LandedFileError], tuple[str, ...]]:  # picklable across Prefect task boundaries
        return (type(self), (self.key, self.reason))


class LandingLimitError(LandedFileError):
    """A landed file over one of the ``LandingLimits``; ``setting`` names the variable that
    raises the limit."""

    setting: str

    def __init__(self, key: str, reason: str, setting: str) -> None:
        super().__init__(key, reason)
        self.setting = setting

    def __reduce__(self) -> tuple[type[LandedFileError], tuple[str, ...]]:
        return (type(self), (self.key, self.reason, self.setting))


@dataclass(frozen=True)
class _Setting:
    variable: str
    unit: str  # "bytes" | "count"
    noun: str  # what the limit counts, for messages


_SETTINGS: dict[str, _Setting] = {
    "object_bytes": _Setting("REVENUE_LANDING_MAX_OBJECT_BYTES", "bytes", "object size"),
    "inflated_bytes": _Setting("REVENUE_LANDING_MAX_INFLATED_BYTES", "bytes", "size after decompression"),
    "rows": _Setting("REVENUE_LANDING_MAX_ROWS", "count", "rows"),
    "columns": _Setting("REVENUE_LANDING_MAX_COLUMNS", "count", "columns"),
    "fields": _Setting("REVENUE_LANDING_MAX_FIELDS", "count", "fields (rows x columns)"),
    "line_chars": _Setting("REVENUE_LANDING_MAX_LINE_CHARS", "count", "characters in one record"),
    "read_memory": _Setting("REVENUE_LANDING_MAX_READ_MEMORY", "bytes", "memory for reading it"),
    "read_seconds": _Setting("REVENUE_LANDING_MAX_READ_SECONDS", "count", "seconds for reading it"),
}

_BYTES = re.compile(r"(\d[\d_]*)\s*(KiB|MiB|GiB|B)?", re.IGNORECASE)
_COUNT = re.compile(r"\d[\d_]*")
_SUFFIX = {"": 1, "b": 1, "kib": KiB, "mib": MiB, "gib": GiB}


def human_bytes(n: int) -> str:
    """``536870912`` -> ``512 MiB``; exact multiples only get a unit, else ``1,000,001 bytes``."""
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= size and n % size == 0:
            return f"{n // size:,} {unit}"
    return f"{n:,} bytes"


@dataclass(frozen=True)
class LandingLimits:
    """The limits one landed file is read within (module docstring: defaults and settings)."""

    object_bytes: int = 256 * MiB
    inflated_bytes: int = 512 * MiB
    rows: int = 2_000_000
    columns: int = 100
    fields: int = 25_000_000
    line_chars: int = 64 * KiB
    read_memory: int = 1536 * MiB
    read_seconds: float = 300

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            number = (int, float) if field.name == "read_seconds" else int  # a test may want 0.01 s
            if isinstance(value, bool) or not isinstance(value, number) or value <= 0:
                raise ValueError(f"LandingLimits.{field.name} must be a positive number, not {value!r}")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> LandingLimits:
        """The defaults, overridden by every ``REVENUE_LANDING_MAX_*`` variable that is set.

        Raises:
            ConfigurationError: a variable is set to something that is not a positive whole
                number (bytes: with an optional ``KiB``/``MiB``/``GiB`` suffix).
        """
        env = os.environ if environ is None else environ
        values: dict[str, int] = {}
        for name, setting in _SETTINGS.items():
            raw = env.get(setting.variable, "").strip()
            if raw:
                values[name] = _parse(setting, raw, getattr(cls, name))
        return cls(**values)

    @staticmethod
    def setting(name: str) -> str:
        """The environment variable of limit ``name`` (``"rows"`` -> ``REVENUE_LANDING_MAX_ROWS``)."""
        return _SETTINGS[name].variable

    def describe(self, name: str) -> str:
        """Limit ``name``'s value for a person: ``512 MiB``, ``2,000,000``."""
        value = getattr(self, name)
        return human_bytes(value) if _SETTINGS[name].unit == "bytes" else f"{value:,}"

    def refuse(self, key: str, name: str, what: str, advice: str = "split the file or raise the limit") -> None:
        """Raise the ``LandingLimitError`` of ``key`` over limit ``name``: ``what`` says how
        (``has 20,000,000 rows, over 2,000,000``); the setting and ``advice`` follow."""
        setting = _SETTINGS[name].variable
        raise LandingLimitError(key, f"{what} ({setting}); {advice}", setting)

    def check_size(self, key: str, size: int) -> None:
        """Refuse an object of ``size`` bytes (as listed or HEADed) before fetching it.

        Raises:
            LandingLimitError: ``size`` is over ``object_bytes``.
        """
        if size > self.object_bytes:
            self.refuse(key, "object_bytes", f"is {human_bytes(size)}, over {self.describe('object_bytes')}")


def _parse(setting: _Setting, raw: str, default: int) -> int:
    pattern = _BYTES if setting.unit == "bytes" else _COUNT
    match = pattern.fullmatch(raw)
    value = 0
    if match:
        value = int(match.group(1).replace("_", "") if setting.unit == "bytes" else match.group(0).replace("_", ""))
        if setting.unit == "bytes":
            value *= _SUFFIX[(match.group(2) or "").lower()]
    if value < 1:
        example = "a whole number of bytes, optionally with KiB, MiB or GiB (e.g. 512MiB)"
        if setting.unit == "count":
            example = "a whole number (e.g. 2000000)"
        shown = human_bytes(default) if setting.unit == "bytes" else f"{default:,}"
        raise ConfigurationError(
            f"{setting.variable}={raw[:40]!r} is not a positive limit on a landed file's {setting.noun}: "
            f"set {example}, or unset it for the default {shown}"
        )
    return value
