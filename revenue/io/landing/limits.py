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
(docs/reliability.md, "Limits on a landed file", has the measured figures).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from revenue.errors import DataError
from revenue.settings import LANDING_LIMITS, GiB, KiB, MiB, human_bytes

__all__ = ["GiB", "KiB", "LandedFileError", "LandingLimitError", "LandingLimits", "MiB", "human_bytes"]


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
class LandingLimits:
    """The limits one landed file is read within (module docstring: defaults and settings)."""

    object_bytes: int = LANDING_LIMITS["object_bytes"].setting.default
    inflated_bytes: int = LANDING_LIMITS["inflated_bytes"].setting.default
    rows: int = LANDING_LIMITS["rows"].setting.default
    columns: int = LANDING_LIMITS["columns"].setting.default
    fields: int = LANDING_LIMITS["fields"].setting.default
    line_chars: int = LANDING_LIMITS["line_chars"].setting.default
    read_memory: int = LANDING_LIMITS["read_memory"].setting.default
    read_seconds: float = LANDING_LIMITS["read_seconds"].setting.default

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
        return cls(**{name: limit.setting.value(environ) for name, limit in LANDING_LIMITS.items()})

    @staticmethod
    def setting(name: str) -> str:
        """The environment variable of limit ``name`` (``"rows"`` -> ``REVENUE_LANDING_MAX_ROWS``)."""
        return LANDING_LIMITS[name].setting.name

    def describe(self, name: str) -> str:
        """Limit ``name``'s value for a person: ``512 MiB``, ``2,000,000``."""
        return LANDING_LIMITS[name].describe(getattr(self, name))

    def refuse(self, key: str, name: str, what: str, advice: str = "split the file or raise the limit") -> None:
        """Raise the ``LandingLimitError`` of ``key`` over limit ``name``: ``what`` says how
        (``has 20,000,000 rows, over 2,000,000``); the setting and ``advice`` follow."""
        setting = self.setting(name)
        raise LandingLimitError(key, f"{what} ({setting}); {advice}", setting)

    def check_size(self, key: str, size: int) -> None:
        """Refuse an object of ``size`` bytes (as listed or HEADed) before fetching it.

        Raises:
            LandingLimitError: ``size`` is over ``object_bytes``.
        """
        if size > self.object_bytes:
            self.refuse(key, "object_bytes", f"is {human_bytes(size)}, over {self.describe('object_bytes')}")
