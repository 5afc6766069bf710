"""Invariants under random sequences of source edits, landed files, reruns and backfills.

A reference model written here, independently of the pipeline: a day's orders are its
source rows, overlaid by the rows of each registered landed file in landing order (a file's
latest version only; a later landing wins by order id). After every run, every day the
status grid calls current must hold exactly what the model says; at the end of a sequence a
backfill brings every day current, and ``revenue verify`` is clean.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections import defaultdict
from decimal import Decimal

import pytest
import sqlalchemy as sa

from flows.backfill import backfill
from flows.daily_revenue import daily_revenue
from revenue.io.environment import environment
from revenue.io.registry import watch_once
from revenue.status import CURRENT, partition_statuses
from revenue.verify import verify_range
from tests.integration.conftest import s3_client
from tests.integration.helpers import published, seed_orders

DAYS = [dt.date(2026, 5, 1) + dt.timedelta(days=i) for i in range(3)]
IDS = range(1, 13)  # a small pool, so sources and files collide
CUSTOMERS = ["ann", "bob", "cy", "123"]


class World:
    """What the test did: the source's rows and the content of every file version it landed."""

    def __init__(self, rng: random.Random, config: str, s3, bucket: str) -> None:
        self.rng, self.config, self.s3, self.bucket = rng, config, s3, bucket
        self.source: dict[int, tuple[str, int, dt.date]] = {}  # order id -> (customer, cents, day)
        self.versions: dict[tuple[str, str], list[tuple[int, str, int, dt.date]]] = {}  # (uri, etag) -> rows
        self.keys: list[str] = []
        self.clock = 0

    # --------------------------------------------------------------- actions

    def edit_source(self) -> str:
        order_id = self.rng.choice(IDS)
        if order_id in self.source and self.rng.random() < 0.3:
            del self.source[order_id]
            with environment(self.config).source.engine.begin() as connection:
                connection.execute(sa.text("DELETE FROM orders WHERE order_id = :id"), {"id": order_id})
            return f"delete source order {order_id}"
        row = (self.rng.choice(CUSTOMERS), self.rng.randint(-500, 5000), self.rng.choice(DAYS))
        self.clock += 1
        if order_id in self.source:
            with environment(self.config).source.engine.begin() as connection:
                connection.execute(sa.text("DELETE FROM orders WHERE order_id = :id"), {"id": order_id})
        self.source[order_id] = row
        seed_orders(
            self.config,
            [(order_id, row[0], row[1] / 100, f"{row[2]} 10:00:00", f"2026-06-01 00:00:{self.clock:02d}")],
            replace=False,
        )
        return f"source order {order_id} = {row}"

    def land_file(self) -> str:
        key = self.rng.choice(self.keys) if self.keys and self.rng.random() < 0.3 else f"f{len(self.keys):02d}.csv"
        if key not in self.keys:
            self.keys.append(key)
        rows = {
            oid: (self.rng.choice(CUSTOMERS), self.rng.randint(-500, 5000), self.rng.choice(DAYS))
            for oid in self.rng.sample(list(IDS), self.rng.randint(1, 4))
        }
        body = "order_id,customer_id,amount,order_date\n" + "".join(
            f"{oid},{c},{Decimal(cents) / 100:.2f},{day}T12:00:00Z\n" for oid, (c, cents, day) in rows.items()
        )
        data = body.encode()
        self.s3.put_object(Bucket=self.bucket, Key=f"landing/{key}", Body=data)
        uri = f"s3://{self.bucket}/landing/{key}"
        self.versions[(uri, hashlib.md5(data).hexdigest())] = [(oid, *row) for oid, row in rows.items()]
        return f"land {key}: {rows}"

    # --------------------------------------------------------------- the model

    def registered(self) -> list[tuple[str, str]]:
        """(uri, etag) of each file's current version, in landing order: registered and read
        (a pending file is in no day's input until a run reads it: the grid never reads)."""
        with environment(self.config).warehouse.engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT seq, uri, etag FROM analytics.landing_registry WHERE read_status <> 'pending' ORDER BY seq"
                )
            ).all()
        latest = {uri: (seq, etag) for seq, uri, etag in rows}
        return [(uri, etag) for uri, (seq, etag) in sorted(latest.items(), key=lambda item: item[1][0])]

    def expected(self) -> dict[dt.date, tuple[int, int, dict[str, int]]]:
        by_day: dict[dt.date, dict[int, tuple[str, int]]] = defaultdict(dict)
        for order_id, (customer, cents, day) in self.source.items():
            by_day[day][order_id] = (customer, cents)
        for version in self.registered():
            for order_id, customer, cents, day in self.versions[version]:
                by_day[day][order_id] = (customer, cents)
        result = {}
        for day, orders in by_day.items():
            spend: dict[str, int] = defaultdict(int)
            for customer, cents in orders.values():
                spend[customer] += cents
            result[day] = (sum(spend.values()), len(orders), dict(spend))
        return result

    def check_current_days(self, history: list[str]) -> int:
        """Every day the grid calls current holds what the model says; returns how many."""
        expected = self.expected()
        checked = 0
        for status in partition_statuses(self.config, DAYS[0], DAYS[-1]):
            if status.state not in CURRENT:
                continue
            day = status.partition
            revenue = published(self.config, "daily_revenue", day)
            spend = published(self.config, "customer_daily_spend", day)
            held = (
                int(revenue["revenue"].item() * 100),
                int(revenue["order_count"].item()),
                {c: int(s * 100) for c, s in zip(spend["customer_id"], spend["daily_spend"])},
            )
            assert held == expected.get(day, (0, 0, {})), (day, history)
            checked += 1
        return checked


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("seed", [11, 29])
def test_random_sequences_publish_what_the_model_says(pg_env, s3_endpoint, s3_bucket, seed):
    rng = random.Random(seed)
    seed_orders(pg_env, [])
    world = World(rng, pg_env, s3_client(s3_endpoint), s3_bucket)
    history: list[str] = []
    checked = 0
    for _ in range(14):
        action = rng.choices(
            ["source", "land", "landing run", "watcher", "cron", "backfill", "force"], weights=[3, 3, 3, 1, 2, 2, 1]
        )[0]
        if action == "source":
            history.append(world.edit_source())
            continue
        if action == "land" or not world.keys:
            history.append(world.land_file())
            continue
        if action == "landing run":
            key = rng.choice(world.keys)
            history.append(f"landing run {key}")
            daily_revenue(landed_key=f"s3://{s3_bucket}/landing/{key}", config=pg_env, return_state=True)
        elif action == "watcher":
            history.append("watcher pass")
            watch_once(environment(pg_env).registry)
        elif action == "cron":
            day = rng.choice(DAYS)
            history.append(f"cron {day}")
            daily_revenue(partition_date=day.isoformat(), config=pg_env, return_state=True)
        else:
            history.append(f"backfill force={action == 'force'}")
            backfill(
                start=DAYS[0].isoformat(),
                end=DAYS[-1].isoformat(),
                config=pg_env,
                force=action == "force",
                return_state=True,
            )
        checked += world.check_current_days(history)

    backfill(start=DAYS[0].isoformat(), end=DAYS[-1].isoformat(), config=pg_env, return_state=True)
    statuses = partition_statuses(pg_env, DAYS[0], DAYS[-1])
    expected = world.expected()
    assert all(s.state in CURRENT for s in statuses if s.partition in expected), (statuses, history)
    assert world.check_current_days(history) == len(expected)
    assert verify_range(pg_env, DAYS[0], DAYS[-1]) == [], history
    assert checked > 0
