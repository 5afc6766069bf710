"""Every ``REVENUE_*`` environment variable: its default, how its text is read and checked,
and what it does. This is the only module that reads them (``tests/unit/test_settings.py``
fails when another module names one); everything else asks a ``Setting`` for its value.

Each setting has a scope:

- ``environment``: what an environment is made of. ``revenue blocks create`` reads these
  from its own variables (an embedded default: from its manifest) and keeps them in the
  environment's blocks; a run reads the blocks, never these variables.
- ``process``: read by the process that needs it, when it needs it.
- ``deploy``: read by ``prefect deploy`` from ``prefect.yaml`` (``{{ $NAME }}``).
- ``tests``: read by the test suite only.

``python -m revenue.settings`` (or ``revenue settings``) prints the table of them. Importing
this module imports no Prefect.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from revenue.errors import ConfigurationError

log = logging.getLogger(__name__)

T = TypeVar("T")
Scope = Literal["environment", "process", "deploy", "tests"]
Parse = Callable[[str, str], T]
"""``(variable, text)``: the value, or a ``ConfigurationError`` naming the variable."""

PREFIX = "REVENUE_"
ALERT_PREFIX = "REVENUE_ALERT_"

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One ``REVENUE_*`` variable. Unset or blank, it is its ``default``."""

    name: str
    default: T
    parse: Parse[T] = field(repr=False)
    description: str
    scope: Scope = "process"
    shown_default: str | None = None
    """The table's text for the default, when ``repr(default)`` would not say it."""
    secret: bool = False
    """Its value is a credential: never printed, never written to a manifest."""
    lenient: bool = False
    """A malformed value is logged and the default used (else: ``ConfigurationError``)."""

    def text(self, environ: Mapping[str, str] | None = None) -> str:
        """The variable's text in ``environ`` (default: this process's), ``""`` when unset."""
        return (os.environ if environ is None else environ).get(self.name) or ""

    def is_set(self, environ: Mapping[str, str] | None = None) -> bool:
        return bool(self.text(environ).strip())

    def value(self, environ: Mapping[str, str] | None = None) -> T:
        """The parsed value in ``environ`` (default: this process's variables).

        Raises:
            ConfigurationError: the text is malformed (unless the setting is ``lenient``).
        """
        raw = self.text(environ)
        if not raw.strip():
            return self.default
        try:
            return self.parse(self.name, raw)
        except ConfigurationError as error:
            if not self.lenient:
                raise
            log.warning("%s: using the default %s", error, self.default_text)
            return self.default

    @property
    def default_text(self) -> str:
        if self.shown_default is not None:
            return self.shown_default
        if self.default is None or self.default == "":
            return "(none)"
        if isinstance(self.default, bool):
            return str(self.default).lower()
        if isinstance(self.default, float) and self.default.is_integer():
            return str(int(self.default))
        return str(self.default)


# --------------------------------------------------------------------------- parsers


def _text(name: str, raw: str) -> str:
    return raw


def _optional_text(name: str, raw: str) -> str | None:
    return raw


def _present(name: str, raw: str) -> bool:
    return True


@dataclass(frozen=True)
class _Whole:
    """A whole number from ``low`` to ``high``: the bounds the blocks' fields check too
    (``bounds``)."""

    low: int
    high: int
    what: str = "whole number"

    def __call__(self, name: str, raw: str) -> int:
        text = raw.strip()
        if not text.isdigit() or not self.low <= int(text) <= self.high:
            raise ConfigurationError(f"{name} must be a {self.what} from {self.low} to {self.high}, not {raw!r}")
        return int(text)


def _whole(low: int, high: int, what: str = "whole number") -> Parse[int]:
    return _Whole(low, high, what)


def _optional_whole(low: int, high: int) -> Parse[int | None]:
    return _Whole(low, high)


def bounds(setting: Setting[Any]) -> tuple[int, int]:
    """The (lowest, highest) whole number ``setting`` accepts (a ``TypeError`` for a setting
    that is not a bounded whole number)."""
    if not isinstance(setting.parse, _Whole):
        raise TypeError(f"{setting.name} is not a bounded whole number")
    return setting.parse.low, setting.parse.high


def _positive_seconds(name: str, raw: str) -> float:
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not seconds > 0 or seconds == float("inf"):
        raise ConfigurationError(f"{name}={raw[:40]!r} is not a positive number of seconds")
    return seconds


def _switch(name: str, raw: str) -> bool:
    from revenue.switch import switch_value

    switch = switch_value(raw)
    if switch is None:
        raise ConfigurationError(f"{name} must be true or false, not {raw!r}")
    return switch


MIN_WINDOW = dt.timedelta(seconds=10)
"""Prefect refuses a proactive trigger whose window is shorter."""


def _deadline(name: str, raw: str) -> str:
    from revenue.deadline import parse_deadline

    try:
        if parse_deadline(raw) < MIN_WINDOW:
            raise ValueError("must be at least 00:00:10 (Prefect's shortest proactive window)")
    except ValueError as error:
        raise ConfigurationError(f"{name}: {error}") from None
    return raw.strip()


def _silence(name: str, raw: str) -> dt.timedelta:
    value = raw.strip()
    match = re.fullmatch(r"(\d+)\s*([sm]?)", value)
    if not match or int(match.group(1)) < 1:
        raise ConfigurationError(f"{name} must be minutes (15, 15m) or seconds (90s), not {value!r}")
    number, unit = int(match.group(1)), match.group(2) or "m"
    silence = dt.timedelta(seconds=number) if unit == "s" else dt.timedelta(minutes=number)
    if silence < MIN_WINDOW:
        raise ConfigurationError(
            f"{name} must be at least {MIN_WINDOW.seconds} s (Prefect's shortest proactive window), not {value!r}"
        )
    return silence


def human_bytes(n: int) -> str:
    """``536870912`` -> ``512 MiB``; exact multiples only get a unit, else ``1,000,001 bytes``."""
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= size and n % size == 0:
            return f"{n // size:,} {unit}"
    return f"{n:,} bytes"


_BYTES = re.compile(r"(\d[\d_]*)\s*(KiB|MiB|GiB|B)?", re.IGNORECASE)
_COUNT = re.compile(r"\d[\d_]*")
_SUFFIX = {"": 1, "b": 1, "kib": KiB, "mib": MiB, "gib": GiB}


def _limit(unit: Literal["bytes", "count"], noun: str, default: int) -> Parse[int]:
    """A landed-file limit: a positive whole number (bytes: with an optional unit)."""

    def parse(name: str, raw: str) -> int:
        text = raw.strip()
        match = (_BYTES if unit == "bytes" else _COUNT).fullmatch(text)
        value = 0
        if match:
            value = int(match.group(1 if unit == "bytes" else 0).replace("_", ""))
            if unit == "bytes":
                value *= _SUFFIX[(match.group(2) or "").lower()]
        if value < 1:
            example = "a whole number of bytes, optionally with KiB, MiB or GiB (e.g. 512MiB)"
            if unit == "count":
                example = "a whole number (e.g. 2000000)"
            raise ConfigurationError(
                f"{name}={text[:40]!r} is not a positive limit on a landed file's {noun}: "
                f"set {example}, or unset it for the default {_shown(unit, default)}"
            )
        return value

    return parse


def _shown(unit: Literal["bytes", "count"], value: int | float) -> str:
    return human_bytes(int(value)) if unit == "bytes" else f"{value:,}"


@dataclass(frozen=True)
class LandingLimit:
    """A ``REVENUE_LANDING_MAX_*`` setting with what ``revenue.io.landing.limits`` says of it."""

    setting: Setting[int]
    unit: Literal["bytes", "count"]

    def describe(self, value: int | float) -> str:
        return _shown(self.unit, value)


def _landing_limit(
    name: str, unit: Literal["bytes", "count"], noun: str, default: int, description: str
) -> LandingLimit:
    setting = Setting(name, default, _limit(unit, noun, default), description, shown_default=_shown(unit, default))
    return LandingLimit(setting, unit)


# --------------------------------------------------------------------------- an environment

SOURCE_DB_URL = Setting(
    "REVENUE_SOURCE_DB_URL", "", _text, "SQLAlchemy URL of the database holding the orders table", "environment",
    shown_default="(required)",
)  # fmt: skip
WAREHOUSE_DB_URL = Setting(
    "REVENUE_WAREHOUSE_DB_URL", "", _text, "SQLAlchemy URL of the database the tables are published to",
    "environment", shown_default="(required)",
)  # fmt: skip
LAKE_URL = Setting(
    "REVENUE_LAKE_URL", "", _text, "where each partition's Parquet files go: s3://bucket/prefix or a local directory",
    "environment", shown_default="(required)",
)  # fmt: skip
RESULTS_SUFFIX = "_prefect_results"
RESULTS_URL = Setting(
    "REVENUE_RESULTS_URL", "", _text, "where Prefect keeps task results (s3://bucket/prefix or a local directory)",
    "environment", shown_default=f"REVENUE_LAKE_URL/{RESULTS_SUFFIX}",
)  # fmt: skip
LANDING_URL: Setting[str | None] = Setting(
    "REVENUE_LANDING_URL", None, _optional_text, "where order files land (s3://bucket/prefix or a local directory)",
    "environment",
)  # fmt: skip
LANDING_QUEUE_URL: Setting[str | None] = Setting(
    "REVENUE_LANDING_QUEUE_URL", None, _optional_text,
    "SQS queue receiving the landing bucket's s3:ObjectCreated notifications (the watcher reads it "
    "instead of listing)", "environment",
)  # fmt: skip
SOURCE_TABLE = Setting("REVENUE_SOURCE_TABLE", "orders", _text, "the orders table of the source", "environment")
WAREHOUSE_SCHEMA = Setting(
    "REVENUE_WAREHOUSE_SCHEMA", "analytics", _text, "schema of the published tables (ignored by SQLite)", "environment"
)
STATUS_WEEKS = Setting(
    "REVENUE_STATUS_WEEKS", 8, _whole(1, 520, "number of weeks"),
    "weeks the partition-status grid shows, up to yesterday (1 to 520)", "environment",
)  # fmt: skip
ALERT_DEADLINE = Setting(
    "REVENUE_ALERT_DEADLINE", "07:30", _deadline,
    "UTC time (HH:MM or HH:MM:SS) by which yesterday must be published, else the late-day alert fires",
    "environment",
)  # fmt: skip
HEAL = Setting(
    "REVENUE_HEAL", False, _switch,
    "true: the landing watcher recomputes stale days by itself (the Prefect variable "
    "revenue_heal_<environment> overrides it)", "environment",
)  # fmt: skip
HEAL_SETTLE_SECONDS = Setting(
    "REVENUE_HEAL_SETTLE_SECONDS", 60, _whole(0, 86400),
    "seconds a day's input must stay unchanged before the watcher heals it (0 to 86400)", "environment",
)  # fmt: skip
HEAL_HORIZON_DAYS: Setting[int | None] = Setting(
    "REVENUE_HEAL_HORIZON_DAYS", None, _optional_whole(1, 3660),
    "days up to yesterday the watcher heals (1 to 3660)", "environment", shown_default="the grid's window",
)  # fmt: skip
ALERT_WEBHOOK_URL: Setting[str | None] = Setting(
    "REVENUE_ALERT_WEBHOOK_URL", None, _optional_text,
    "alerts as a JSON POST to this URL (kept secret in a custom-webhook block)", "environment", secret=True,
)  # fmt: skip
ALERT_SLACK_WEBHOOK_URL: Setting[str | None] = Setting(
    "REVENUE_ALERT_SLACK_WEBHOOK_URL", None, _optional_text, "alerts to this Slack incoming webhook", "environment",
    secret=True,
)  # fmt: skip
ALERT_PAGERDUTY_INTEGRATION_KEY: Setting[str | None] = Setting(
    "REVENUE_ALERT_PAGERDUTY_INTEGRATION_KEY", None, _optional_text,
    "alerts to PagerDuty (with REVENUE_ALERT_PAGERDUTY_API_KEY)", "environment", secret=True,
)  # fmt: skip
ALERT_PAGERDUTY_API_KEY: Setting[str | None] = Setting(
    "REVENUE_ALERT_PAGERDUTY_API_KEY", None, _optional_text,
    "alerts to PagerDuty (with REVENUE_ALERT_PAGERDUTY_INTEGRATION_KEY)", "environment", secret=True,
)  # fmt: skip
ALERT_WATCHER_SILENCE = Setting(
    "REVENUE_ALERT_WATCHER_SILENCE", dt.timedelta(minutes=15), _silence,
    "silence of the landing watcher's heartbeat that alerts: minutes (15, 15m) or seconds (90s)", "environment",
    shown_default="15m",
)  # fmt: skip

# --------------------------------------------------------------------------- a process

HOME = Setting(
    "REVENUE_HOME", ".revenue", _text,
    "the revenue home: embedded defaults' manifests, revenue dev's server database, log and dev.json",
)  # fmt: skip
DEBUG = Setting(
    "REVENUE_DEBUG", False, _present, "set (to anything): a failing command shows its traceback",
    shown_default="(unset)",
)  # fmt: skip
SERVER_START_TIMEOUT = Setting(
    "REVENUE_SERVER_START_TIMEOUT", 300, _whole(1, 86400),
    "seconds a command waits for Prefect's temporary server to start (its first start migrates a database)",
    lenient=True,
)  # fmt: skip
RUNNING_MARK_EXPIRES_SECONDS = Setting(
    "REVENUE_RUNNING_MARK_EXPIRES_SECONDS", 60.0, _positive_seconds,
    "seconds a partition's running mark lives without a heartbeat (beats every quarter of it)", lenient=True,
)  # fmt: skip
LANDING_LEASE_SECONDS = Setting(
    "REVENUE_LANDING_LEASE_SECONDS", 60.0, _positive_seconds,
    "seconds a landed file's read lease lives without renewal",
)  # fmt: skip
LANDING_QUEUE_WAIT_SECONDS = Setting(
    "REVENUE_LANDING_QUEUE_WAIT_SECONDS", 5, _whole(1, 20, "whole number of seconds"),
    "seconds a watch pass's first receive long-polls the landing SQS queue (1 to 20; an idle pass waits it)",
)  # fmt: skip
LANDING_LIMITS: dict[str, LandingLimit] = {
    "object_bytes": _landing_limit(
        "REVENUE_LANDING_MAX_OBJECT_BYTES", "bytes", "object size", 256 * MiB,
        "largest landed object as stored (gzip included), checked before it is fetched",
    ),
    "inflated_bytes": _landing_limit(
        "REVENUE_LANDING_MAX_INFLATED_BYTES", "bytes", "size after decompression", 512 * MiB,
        "largest landed file after gzip (Parquet: its columns uncompressed)",
    ),
    "rows": _landing_limit("REVENUE_LANDING_MAX_ROWS", "count", "rows", 2_000_000, "most data rows in a landed file"),
    "columns": _landing_limit(
        "REVENUE_LANDING_MAX_COLUMNS", "count", "columns", 100, "most columns in a landed file"
    ),
    "fields": _landing_limit(
        "REVENUE_LANDING_MAX_FIELDS", "count", "fields (rows x columns)", 25_000_000,
        "most rows x columns in a landed file",
    ),
    "line_chars": _landing_limit(
        "REVENUE_LANDING_MAX_LINE_CHARS", "count", "characters in one record", 64 * KiB,
        "most characters in one CSV record",
    ),
    "read_memory": _landing_limit(
        "REVENUE_LANDING_MAX_READ_MEMORY", "bytes", "memory for reading it", 1536 * MiB,
        "address space the child reading a landed file may add",
    ),
    "read_seconds": _landing_limit(
        "REVENUE_LANDING_MAX_READ_SECONDS", "count", "seconds for reading it", 300,
        "seconds the child reading a landed file may take",
    ),
}  # fmt: skip

# --------------------------------------------------------------------------- deploy, tests

ENV = Setting(
    "REVENUE_ENV", "", _text, "the environment `prefect deploy` deploys (prefect.yaml)", "deploy",
    shown_default="(required)",
)  # fmt: skip
PROJECT_DIR = Setting(
    "REVENUE_PROJECT_DIR", "", _text, "the project directory a worker runs the deployments from (prefect.yaml)",
    "deploy", shown_default="(required)",
)  # fmt: skip
E2E_SCREENSHOTS = Setting(
    "REVENUE_E2E_SCREENSHOTS", "", _text, "a directory: the end-to-end tests save the UI screenshots there", "tests"
)

SETTINGS: tuple[Setting[Any], ...] = (
    SOURCE_DB_URL,
    WAREHOUSE_DB_URL,
    LAKE_URL,
    RESULTS_URL,
    LANDING_URL,
    LANDING_QUEUE_URL,
    SOURCE_TABLE,
    WAREHOUSE_SCHEMA,
    STATUS_WEEKS,
    ALERT_DEADLINE,
    HEAL,
    HEAL_SETTLE_SECONDS,
    HEAL_HORIZON_DAYS,
    ALERT_WEBHOOK_URL,
    ALERT_SLACK_WEBHOOK_URL,
    ALERT_PAGERDUTY_INTEGRATION_KEY,
    ALERT_PAGERDUTY_API_KEY,
    ALERT_WATCHER_SILENCE,
    HOME,
    DEBUG,
    SERVER_START_TIMEOUT,
    RUNNING_MARK_EXPIRES_SECONDS,
    LANDING_LEASE_SECONDS,
    LANDING_QUEUE_WAIT_SECONDS,
    *(limit.setting for limit in LANDING_LIMITS.values()),
    ENV,
    PROJECT_DIR,
    E2E_SCREENSHOTS,
)
"""Every setting, in the order the table lists them."""

REQUIRED = (SOURCE_DB_URL, WAREHOUSE_DB_URL, LAKE_URL)
"""What ``revenue blocks create`` cannot do without."""


# --------------------------------------------------------------------------- readers


@dataclass(frozen=True)
class EnvironmentValues:
    """One environment's settings, read from variables (``revenue blocks create``) or from an
    embedded default's manifest; the defaults are the settings' own."""

    source_db_url: str
    warehouse_db_url: str
    lake_url: str
    results_url: str
    landing_url: str | None
    landing_queue_url: str | None
    source_table: str
    warehouse_schema: str
    status_weeks: int
    alert_deadline: str
    heal: bool
    heal_settle_seconds: int
    heal_horizon_days: int | None
    alerts: Mapping[str, str]
    """The ``REVENUE_ALERT_*`` variables that are set (destinations, thresholds; secrets among them)."""


def missing(environ: Mapping[str, str] | None = None) -> list[str]:
    """The names of the required environment settings that ``environ`` lacks."""
    return [setting.name for setting in REQUIRED if not setting.is_set(environ)]


def environment_values(environ: Mapping[str, str] | None = None) -> EnvironmentValues:
    """Every environment setting of ``environ`` (default: this process's variables).

    Raises:
        ConfigurationError: a required one is missing, or one is malformed (named).
    """
    absent = missing(environ)
    if absent:
        raise ConfigurationError(f"missing environment variable(s): {', '.join(absent)}")
    lake = LAKE_URL.value(environ)
    return EnvironmentValues(
        source_db_url=SOURCE_DB_URL.value(environ),
        warehouse_db_url=WAREHOUSE_DB_URL.value(environ),
        lake_url=lake,
        results_url=RESULTS_URL.value(environ) or lake.rstrip("/") + "/" + RESULTS_SUFFIX,
        landing_url=LANDING_URL.value(environ),
        landing_queue_url=LANDING_QUEUE_URL.value(environ),
        source_table=SOURCE_TABLE.value(environ),
        warehouse_schema=WAREHOUSE_SCHEMA.value(environ),
        status_weeks=STATUS_WEEKS.value(environ),
        alert_deadline=ALERT_DEADLINE.value(environ),
        heal=HEAL.value(environ),
        heal_settle_seconds=HEAL_SETTLE_SECONDS.value(environ),
        heal_horizon_days=HEAL_HORIZON_DAYS.value(environ),
        alerts=alert_variables(environ),
    )


def alert_variables(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The ``REVENUE_ALERT_*`` variables of ``environ`` (default: this process's) that are set."""
    given = os.environ if environ is None else environ
    return {k: v for k, v in given.items() if k.startswith(ALERT_PREFIX) and v}


def recordable(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment settings of ``environ`` that may be written to a file: every one
    that is set, except the secret ones."""
    return {
        s.name: s.text(environ) for s in SETTINGS if s.scope == "environment" and not s.secret and s.is_set(environ)
    }


# --------------------------------------------------------------------------- the table


def markdown_table(settings: tuple[Setting[Any], ...] = SETTINGS) -> str:
    """The settings as a markdown table: variable, scope, default, description."""
    lines = ["| variable | scope | default | what it does |", "|---|---|---|---|"]
    for setting in settings:
        default = setting.default_text.replace("|", "\\|")
        lines.append(f"| `{setting.name}` | {setting.scope} | {default} | {setting.description} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
    sys.exit(0)
