"""What the source fingerprint costs (issue 24): the per-day aggregate query without and with
the row hashes, one day of 10k and of 1M orders; and what looking up the day's orders'
versions on other days (``OrdersSource.versions_elsewhere``, by ``order_id``) costs next to
extracting the day.

``python -m bench.fingerprint`` runs it alone: a fresh database on a Postgres server
(``--database-url`` / ``BENCH_DATABASE_URL``, else ``TEST_DATABASE_URL``, else a throwaway
``pgserver``) with one day of each size of seeded demo orders loaded as ``make bench`` loads
them (COPY, ``order_date`` indexed, ``VACUUM ANALYZE``), and an embedded SQLite source
holding one 10k day. ``make bench`` runs it on the days its single-partition scenario
loaded (and the same SQLite day).

For each day, on one connection, after one untimed run of each: ``aggregate``, the day's
aggregate query without the row hashes (the fingerprint before issue 24: counts, sum, id
bounds, newest ``updated_at``), and ``with row hashes``, the query ``OrdersSource.fingerprints``
runs now, alternating, ``repeats`` times; the median in ms and the ratio of the medians.
``fingerprints()`` is the whole call (round trip and digest), timed the same way. The rows
are read from the table each time (an index range scan on ``order_date``, then the heap);
after the warm-up runs they are in Postgres's buffers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Executable, Row
    from sqlalchemy.engine import Connection

from bench.plan import Log, Plan, human

SQLITE_ORDERS = 10_000
DEFAULT_SIZES = (10_000, 1_000_000)


def _fetch_all(connection: Connection, query: Executable) -> Sequence[Row[Any]]:
    return connection.execute(query).all()


def _timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return (time.perf_counter() - started) * 1000


def day_cost(url: str, day: dt.date, repeats: int) -> dict[str, Any]:
    """The old aggregate, the new one and ``fingerprints()`` of ``day`` in the source at
    ``url`` (table ``orders``), each run ``repeats`` times after one untimed run."""
    import sqlalchemy as sa

    from revenue.io.source import OrdersSource, register_row_hashes

    engine = sa.create_engine(url)
    source = OrdersSource(engine)
    table = source._table(day)
    new = source._day_aggregates(table, day)  # exactly what fingerprints() sends, per day
    old = new.with_only_columns(*(c for c in new.selected_columns if c.name != "row_hashes"))
    count = sa.select(sa.func.count()).select_from(table).where(source._in_partition(table, day))
    ids_of_day = sa.select(table.c.order_id).distinct().where(source._in_partition(table, day))
    ms: dict[str, list[float]] = {
        "aggregate": [],
        "with_row_hashes": [],
        "fingerprints_call": [],
        "other_versions": [],
        "extract": [],
    }
    try:
        with engine.connect() as connection:
            if source.dialect == "sqlite":
                register_row_hashes(connection)
            rows = connection.execute(count).scalar_one()
            ids = [int(i) for i in connection.execute(ids_of_day).scalars() if i is not None]
            queries = {"aggregate": old, "with_row_hashes": new}
            for query in queries.values():
                connection.execute(query).all()
            source.fingerprints([day])
            for _ in range(repeats):
                for name, query in queries.items():
                    ms[name].append(_timed(functools.partial(_fetch_all, connection, query)))
                ms["fingerprints_call"].append(_timed(lambda: source.fingerprints([day])))
                ms["other_versions"].append(_timed(lambda: source.versions_elsewhere(day, ids)))
                ms["extract"].append(_timed(lambda: source.extract(day)))
    finally:
        engine.dispose()
    median = {name: round(statistics.median(times), 2) for name, times in ms.items()}
    return {
        "day": day.isoformat(),
        "source_rows": int(rows),
        "repeats": repeats,
        "ms": {name: [round(t, 2) for t in times] for name, times in ms.items()},
        "median_ms": median,
        "ratio": round(median["with_row_hashes"] / median["aggregate"], 2) if median["aggregate"] else None,
        "lookup_vs_extract": round(median["other_versions"] / median["extract"], 2) if median["extract"] else None,
    }


@contextmanager
def sqlite_day(orders: int, seed: int = 7) -> Iterator[tuple[str, dt.date]]:
    """An embedded SQLite source (a temporary file) with one day of ``orders`` demo orders."""
    import sqlalchemy as sa

    from revenue.demo_data import generate_orders
    from revenue.io.orders_table import create_orders_table, load_orders

    day = dt.date(2025, 6, 1)
    with tempfile.TemporaryDirectory(prefix="bench-fingerprint-") as home:
        url = f"sqlite:///{Path(home) / 'source.db'}"
        engine = sa.create_engine(url)
        create_orders_table(engine)
        load_orders(engine, generate_orders(day, day, orders, seed=seed))
        engine.dispose()
        yield url, day


def fingerprint_scenarios(pg_url: str, days: dict[int, dt.date], repeats: int = 5, log: Log = print) -> dict[str, Any]:
    """The cost of each Postgres day (``days``: orders a day -> the day) and of a SQLite day
    of ``SQLITE_ORDERS`` orders."""
    results: dict[str, Any] = {"postgres": {}, "sqlite": {}}
    for size, day in sorted(days.items()):
        log(f"  fingerprint query, Postgres, {human(size)} orders ({day}), x{repeats}")
        results["postgres"][str(size)] = day_cost(pg_url, day, repeats)
    log(f"  fingerprint query, SQLite, {human(SQLITE_ORDERS)} orders, x{repeats}")
    with sqlite_day(SQLITE_ORDERS) as (url, day):
        results["sqlite"][str(SQLITE_ORDERS)] = day_cost(url, day, repeats)
    return results


def render_lines(results: dict[str, Any] | None) -> list[str]:
    """The report's lines for this scenario (empty when it did not run)."""
    if not results:
        return []
    out = ["Source fingerprint of one day: the aggregate alone vs with row hashes (median ms, one connection)"]
    for engine, sizes in (("Postgres", results.get("postgres") or {}), ("SQLite", results.get("sqlite") or {})):
        for size, cost in sorted(sizes.items(), key=lambda item: int(item[0])):
            median = cost["median_ms"]
            out.append(
                f"  {engine}, {human(int(size))} orders ({cost['source_rows']:,} rows): aggregate "
                f"{median['aggregate']:.1f} ms, with row hashes {median['with_row_hashes']:.1f} ms "
                f"({cost['ratio']}x); fingerprints() {median['fingerprints_call']:.1f} ms (x{cost['repeats']})"
            )
            if "other_versions" in median:
                out.append(
                    f"    its orders' versions on other days (by order_id) {median['other_versions']:.1f} ms, "
                    f"{cost['lookup_vs_extract']}x the day's extract ({median['extract']:.1f} ms)"
                )
    out.append("")
    return out


def standalone(
    database_url: str | None, sizes: tuple[int, ...], repeats: int, seed: int, log: Log = print
) -> dict[str, Any]:
    """Load one day of each size into a fresh database, then measure."""
    from sqlalchemy.engine import make_url

    from bench.data import load
    from bench.services import _psycopg_url
    from testkit.services import fresh_database, postgres_server

    with ExitStack() as stack:
        admin_url = _psycopg_url(database_url) if database_url else stack.enter_context(postgres_server())
        database = stack.enter_context(fresh_database(admin_url))
        pg_url = make_url(database).set(password=make_url(admin_url).password).render_as_string(hide_password=False)
        plan = Plan(sizes=sizes, seed=seed, skip_backfill=True)
        log(f"loading {', '.join(human(s) for s in sizes)} orders (one day each)")
        data = load(pg_url, plan, log=log)
        results = fingerprint_scenarios(pg_url, {s: plan.single_day(s) for s in sizes}, repeats, log)
        results["postgres_version"] = data["postgres_version"]
        return results


def main(argv: list[str] | None = None) -> int:
    import os

    from bench.machine import load_average
    from bench.plan import parse_sizes

    parser = argparse.ArgumentParser(prog="python -m bench.fingerprint", description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"), help="admin URL of a Postgres")
    parser.add_argument("--sizes", type=parse_sizes, default=DEFAULT_SIZES, help="orders a day (default 10k,1M)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each query (default 5)")
    parser.add_argument("--seed", type=int, default=7, help="demo data seed (default 7)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    started = load_average()
    results = standalone(args.database_url, args.sizes, args.repeats, args.seed, log)
    results["load_average"] = {"start": started, "end": load_average()}
    print("\n".join(render_lines(results)))
    print(f"load average: {started} at start, {results['load_average']['end']} at end")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
