"""Reading pending landings, once each, and recording what they hold.

Only ``read_pending`` (runs that plan) reads a pending landing: under its read lease
(``revenue.io.landing.leases``), in a child process within the read limits
(``revenue.io.landing.isolated_read``); another planner waits for the holder's record
(bounded), an expired lease is taken over. ``revenue status``, the grid and the watcher read
none.

Reading never fails for one file's sake: a file that is gone, unreadable, refused by the
store, over the reader's memory or time, or whose reader raised or was killed is recorded as
such (``replaced`` or ``unreadable``, never left ``pending``), and the other files and runs
go on. Only a service outage is raised (the lease given back), to be retried.

What a reading records (one transaction, the first record wins): the landing's
``landing_registry`` row (one per landing: ``read_status``, ``read_at``, ``rows``,
``error``), its ``landing_registry_days`` rows (one per day it has rows on), its
``landed_row_rejects`` rows (one per line no day can take) and its ``landed_orders`` rows
(one per order and day it holds a valid version of).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from revenue.catalog import FILE_REJECT_COLUMNS
from revenue.errors import ServiceUnavailableError
from revenue.io.errors import service
from revenue.io.landing import leases
from revenue.io.landing.files import LandedFileError
from revenue.io.landing.isolated_read import FileSummary, ReaderDied, read_isolated
from revenue.io.landing.keys import LandingKeyError
from revenue.io.landing.limits import LandingLimits
from revenue.io.landing.versions import (
    PENDING,
    READ,
    REPLACED,
    UNREADABLE,
    LandedVersion,
    ReadStatus,
    Registration,
    utc_now,
    version_of,
)
from revenue.io.landing.zone import mark_error
from revenue.io.storage import ObjectChanged
from revenue.io.warehouse.sql import insert_frame
from revenue.transforms.identity import landed_order_days

if TYPE_CHECKING:
    from revenue.io.landing.registry import LandingRegistry

log = logging.getLogger(__name__)


def read_pending(registry: LandingRegistry) -> list[Registration]:
    """Read every landing not read yet, and record the days it touches (or why it
    cannot be read), each under a lease: one process reads a file at a time, the
    others wait (bounded) for what it records. Whatever stops a reading (a limit, the
    reader's memory cap, a bug, a killed process) ends as ``unreadable``, never
    ``pending``; only a service outage is raised, to be retried."""
    registry.warehouse.ensure_tables()
    pending = registry.pending()
    owner = leases.lease_owner()
    found: dict[int, Registration] = {}
    busy = []
    for version in pending:
        claim = leases.claim(registry, version, owner)
        if claim == leases.CLAIMED:
            found[version.seq] = read_leased(registry, version, owner)
        elif claim == leases.NOT_AGAIN:
            found[version.seq] = _unreadable(registry, version, f"landed file {version.uri}: {leases.STOPPED_TWICE}")
        elif claim == leases.BUSY:
            busy.append(version)
    for version in busy:
        found[version.seq] = _await(registry, version, owner)
    _record_orders_of_earlier_reads(registry)
    return [found.get(v.seq) or registry.recorded(v) for v in pending]


def registration(registry: LandingRegistry, version: LandedVersion) -> Registration:
    """What is known of a landing (reading pending ones first if no one has)."""
    read_pending(registry)
    return registry.recorded(version)


def _record_orders_of_earlier_reads(registry: LandingRegistry) -> None:
    """Record the orders of landings read before ``landed_orders`` existed (their
    ``orders_recorded`` is null), from their bytes, read in this process as a run reads
    an already-read file. A file whose bytes are gone is recorded as having none: its
    days keep their orders, but they cannot move another day's orders."""
    files = registry.files
    query = sa.select(files).where(files.c.read_status == READ, files.c.orders_recorded.is_(None))
    with registry.warehouse.service("reading the landing registry"), registry.warehouse.engine.connect() as connection:
        earlier = [version_of(r) for r in connection.execute(query).mappings()]
    for version in earlier:
        orders: pd.DataFrame | None
        try:
            orders = landed_order_days(registry.splits.split(registry.landing, version).by_day)
        except (ObjectChanged, LandedFileError, LandingKeyError) as gone:
            log.warning(
                "landed file %s (landing %d): its orders cannot be recorded: %s", version.uri, version.seq, gone
            )
            orders = None
        with (
            registry.warehouse.service("recording a landed file's orders"),
            registry.warehouse.engine.begin() as connection,
        ):
            claimed = connection.execute(
                files.update()
                .where(files.c.seq == version.seq, files.c.orders_recorded.is_(None))
                .values(orders_recorded=orders is not None)
            ).rowcount
            if claimed and orders is not None:
                _insert_orders(registry, connection, version.seq, orders)


def _await(registry: LandingRegistry, version: LandedVersion, owner: str) -> Registration:
    """Wait for the holder of a landing's lease to record what it read, taking the lease
    over if it expires; bounded by the longest a reading may take plus a lease."""
    deadline = (
        time.monotonic() + LandingLimits.from_environment().read_seconds + 2 * leases.lease_duration().total_seconds()
    )
    pause = 0.05
    log.info("landed file %s (landing %d) is being read by another process: waiting", version.uri, version.seq)
    while time.monotonic() < deadline:
        claim = leases.claim(registry, version, owner)
        if claim == leases.DONE:
            return registry.recorded(version)
        if claim == leases.CLAIMED:
            return read_leased(registry, version, owner)
        if claim == leases.NOT_AGAIN:
            return _unreadable(registry, version, f"landed file {version.uri}: {leases.STOPPED_TWICE}")
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, 1.0)
    raise ServiceUnavailableError(
        f"landing registry {registry.warehouse.label}",
        f"waiting for landed file {version.uri} (landing {version.seq}) to be read by another process",
        None,
        "its reading neither finished nor stopped in time",
    )


def read_leased(registry: LandingRegistry, version: LandedVersion, owner: str) -> Registration:
    """Read a landing whose lease this process holds, in a child process within the
    read limits, and record what it holds. Every way a reading can end is recorded
    (read, unreadable, replaced) except a service outage: the lease is given back and
    the outage raised, to be retried."""
    try:
        return _read(registry, version, owner)
    except ServiceUnavailableError:
        try:
            leases.release(registry, version, owner)
        except Exception as error:  # noqa: BLE001 - the lease expires by itself
            log.warning("could not give back the lease of %s: %s", version.uri, error)
        raise


def _read(registry: LandingRegistry, version: LandedVersion, owner: str) -> Registration:
    """Read a landing once and record what it holds. A file that is gone, or cannot be
    read, or whose reader dies, is recorded as such: it never stops the reading of
    other files (a service that is down is raised, to be retried; a malformed limit
    setting is raised as the ``ConfigurationError`` it is)."""
    limits = LandingLimits.from_environment()
    try:
        limits.check_size(version.uri, version.size)
        store = registry.landing
        with service(f"landing {store.uri()}", f"reading {version.key}"):
            data = store.get(version.key, etag=version.etag)
        summary = read_isolated(data, version.uri, limits, still_mine=lambda: leases.renew(registry, version, owner))
    except ObjectChanged:
        return _record_read(registry, version, REPLACED, error="replaced or deleted before it was read")
    except ServiceUnavailableError:
        raise
    except LandedFileError as error:
        return _unreadable(registry, version, str(error))
    except ReaderDied as died:
        return _unreadable(registry, version, f"landed file {version.uri}: {died.reason}")
    except LandingKeyError as error:  # a key the store will not serve (a symbolic link, ...)
        return _unreadable(registry, version, str(error))
    except OSError as error:
        return _unreadable(registry, version, f"landed file {version.uri}: cannot be read ({type(error).__name__})")
    except MemoryError:  # holding its bytes here
        return _unreadable(registry, version, f"landed file {version.uri}: reading it ran out of memory")
    except Exception as error:  # the store's refusal (403, ...), a key it will not serve, a bug
        reason = (
            f"the store refused to read it ({_store_code(error)})"
            if _refused_by_store(error)
            else f"reading it failed ({type(error).__name__}: {str(error)[:200]})"
        )
        return _unreadable(registry, version, f"landed file {version.uri}: {reason}")
    if not summary.days:
        return _unreadable(registry, version, f"landed file {version.uri}: no row has a usable order_date", summary)
    return _record_read(registry, version, READ, summary=summary)


def _unreadable(
    registry: LandingRegistry, version: LandedVersion, reason: str, summary: FileSummary | None = None
) -> Registration:
    """Record the landing as unreadable, then leave the marker under ``_errors/`` (the
    registry is the record: a marker the store refuses is logged, the file still ends
    unreadable rather than pending)."""
    recorded = _record_read(registry, version, UNREADABLE, summary=summary, error=reason)
    try:
        mark_error(registry.landing, version.file, reason)
    except Exception as error:  # noqa: BLE001 - the marker is a courtesy copy
        log.warning("landed file %s: could not write its error marker: %s", version.uri, error)
    return recorded


def _record_read(
    registry: LandingRegistry,
    version: LandedVersion,
    status: ReadStatus,
    summary: FileSummary | None = None,
    error: str | None = None,
) -> Registration:
    """Record how a pending landing's reading ended (the first record wins) and free its lease."""
    rows = summary.rows if summary else None
    files = registry.files
    with (
        registry.warehouse.service("recording a landed file"),
        registry.warehouse.write_transaction("landing-registry") as connection,
    ):
        claimed = connection.execute(
            files.update()
            .where(files.c.seq == version.seq, files.c.read_status == PENDING)
            .values(
                read_status=status,
                read_at=utc_now(),
                rows=rows,
                error=error,
                lease_owner=None,
                lease_expires=None,
                orders_recorded=summary is not None and summary.orders is not None,
            )
        ).rowcount
        if claimed and summary is not None and summary.orders is not None:
            _insert_orders(registry, connection, version.seq, summary.orders)
        if claimed and summary is not None:
            day_rows = [{"seq": version.seq, "partition_date": d, "rows": n} for d, n in summary.days.items()]
            if day_rows:
                connection.execute(registry.days.insert(), day_rows)
            rejects = summary.rejects.assign(seq=version.seq)
            if len(rejects):
                connection.execute(
                    registry.rejects.insert(),
                    rejects[["seq", *FILE_REJECT_COLUMNS]]
                    .astype("object")
                    .where(rejects.notna(), None)
                    .to_dict(orient="records"),
                )
    if claimed and status != READ:
        log.warning("landed file %s (landing %d): %s", version.uri, version.seq, error)
    days = tuple(sorted(summary.days)) if summary else ()
    return Registration(version, status, rows, error, days)


def _insert_orders(registry: LandingRegistry, connection: Connection, seq: int, orders: pd.DataFrame) -> None:
    """The ``landed_orders`` rows of a landing, inside the caller's transaction."""
    if len(orders):
        insert_frame(connection, registry.orders, orders.assign(seq=seq))


def _refused_by_store(error: BaseException) -> bool:
    """An S3 client error that is the store's answer (403, 400, ...), not an outage."""
    try:
        from botocore.exceptions import ClientError
    except ImportError:  # pragma: no cover
        return False
    if not isinstance(error, ClientError):
        return False
    return 400 <= error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) < 500


def _store_code(error: BaseException) -> str:
    code = getattr(error, "response", {}).get("Error", {}).get("Code", type(error).__name__)
    return str(code)
