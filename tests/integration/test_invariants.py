"""Invariants under random sequences of source edits and corrections, landed files, runs,
backfills and hand edits of the warehouse.

A reference model written here, independently of the pipeline. An order's identity spans
days: of all versions of an ``order_id`` (the source is landing 0, then each registered
landed file in landing order, a file's latest version only; within one landing the newest
version by ``updated_at``, ties by the later ``order_date``), the latest decides whether and on
which day the order counts. A day's orders are the orders whose latest version is on that
day, so the days together count each order once; a day with none holds nothing (no row, or
zeros).

The sequences correct order dates across days: in the source (a newer row for an order on
another day, the old row kept, as change data capture appends; or the ``order_date`` of a
row updated in place) and in landed files (a file moving an order of the source or of an
earlier file to another day; two files disagreeing on an order's day; one file holding two
versions of an order). Between steps they tamper with published rows in SQL (a
``daily_revenue.revenue``, a ``customer_daily_spend.daily_spend``, a deleted
``customer_daily_spend`` row), which the model never includes.

Checked after every run: every day the status grid calls current holds what the model says,
and ``revenue verify`` reports exactly the days where the warehouse differs from the model.
After a tampering: ``verify`` names the day, the status does not call it current, and the
next run of the day repairs it. At the end of a sequence (a watcher pass, then a backfill):
every day with orders is current, every day equals the model, the days' order counts add up
to the number of orders the model counts (each once), their revenue to the model's, and
``verify`` is clean. A failure's message names the seed and lists every step before it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections import Counter, defaultdict
from decimal import Decimal

import pytest
import sqlalchemy as sa

from flows.backfill import backfill
from flows.daily_revenue import daily_revenue
from revenue import catalog
from revenue.io.environment import environment
from revenue.io.landing.listing import watch_once
from revenue.io.orders_table import orders_table
from revenue.status import CURRENT, partition_statuses
from revenue.verify import verify_range
from tests.integration.conftest import s3_client
from tests.integration.helpers import seed_orders

UTC = dt.timezone.utc
DAYS = [dt.date(2026, 5, 1) + dt.timedelta(days=i) for i in range(3)]
IDS = range(1, 13)  # a small pool, so sources and files collide
CUSTOMERS = ["ann", "bob", "cy", "123"]
CLOCK = dt.datetime(2026, 6, 1, tzinfo=UTC)
"""``updated_at`` of a version is CLOCK plus its tick, in seconds."""

TAMPERINGS = ("revenue", "spend", "delete spend")
Version = tuple[int, str, int, dt.date, int | None]
"""(order_id, customer, cents, day, updated_at tick or None when the landing has no such column)."""
Day = tuple[int, int, dict[str, int]]
"""What a day holds: revenue in cents, order count, each customer's spend in cents."""


def updated_at(tick: int | None) -> dt.datetime:
    assert tick is not None, "a version of a landing without updated_at"
    return CLOCK + dt.timedelta(seconds=tick)


def source_time(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(10), tzinfo=UTC)


class World:
    """What the test did (the source's rows, the content of every file version it landed,
    the days it tampered with) and the model of what the warehouse must hold."""

    def __init__(self, rng: random.Random, config: str, s3, bucket: str) -> None:
        self.rng, self.config, self.s3, self.bucket = rng, config, s3, bucket
        self.source: dict[int, list[Version]] = {}  # order id -> its rows, as the source holds them
        self.versions: dict[tuple[str, str], list[Version]] = {}  # (uri, etag) -> rows
        self.keys: list[str] = []
        self.last_day: dict[int, dt.date] = {}  # the day of the version last written for an order
        self.tampered: set[dt.date] = set()
        self.done: Counter[str] = Counter()  # what the sequence exercised
        self.clock = 0

    def tick(self) -> int:
        self.clock += 1
        return self.clock

    def other_day(self, order_id: int) -> dt.date:
        """A day other than the one the order's last written version is on."""
        return self.rng.choice([d for d in DAYS if d != self.last_day.get(order_id)])

    # --------------------------------------------------------------- source actions

    def insert_source(self, rows: list[Version]) -> None:
        seed_orders(
            self.config,
            [
                (oid, c, cents / 100, f"{source_time(day):%Y-%m-%d %H:%M:%S}", f"{updated_at(u):%Y-%m-%d %H:%M:%S}")
                for oid, c, cents, day, u in rows
            ],
            replace=False,
        )
        for row in rows:
            self.source.setdefault(row[0], []).append(row)
            self.last_day[row[0]] = row[3]

    def delete_source(self, order_id: int) -> None:
        table = orders_table()
        with environment(self.config).source.engine.begin() as connection:
            connection.execute(sa.delete(table).where(table.c.order_id == order_id))
        self.source.pop(order_id, None)

    def edit_source(self) -> str:
        """A new order, an order replaced by one row, or an order deleted (all its rows)."""
        order_id = self.rng.choice(IDS)
        if order_id in self.source and self.rng.random() < 0.3:
            self.delete_source(order_id)
            return f"delete source order {order_id}"
        if order_id in self.source:
            self.delete_source(order_id)
        row = (order_id, self.rng.choice(CUSTOMERS), self.rng.randint(-500, 5000), self.rng.choice(DAYS), self.tick())
        self.insert_source([row])
        return f"source order {row}"

    def correct_source(self, in_place: bool) -> str:
        """An order's date corrected in the source: a new row on another day (the old row
        stays; its ``updated_at`` mostly newer, sometimes equal, so the later ``order_date``
        decides, or older: a late stale version), or a row's ``order_date`` updated in place."""
        created = "" if self.source else self.edit_source() + "; "
        order_id = self.rng.choice(sorted(self.source))
        rows = self.source[order_id]
        taken = {(u, day) for *_, day, u in rows}
        if not in_place:
            newest = max(u for *_, u in rows if u is not None)
            kind = self.rng.choices(["newer", "equal", "older"], weights=[6, 2, 2])[0]
            tick = {"newer": self.tick(), "equal": newest, "older": newest - 1}[kind]
            days = [d for d in DAYS if d != self.last_day[order_id] and (tick, d) not in taken]
            if not days:
                tick, days = self.tick(), [self.other_day(order_id)]
            customer, cents = rows[-1][1], rows[-1][2]
            if self.rng.random() < 0.5:
                customer, cents = self.rng.choice(CUSTOMERS), self.rng.randint(-500, 5000)
            row = (order_id, customer, cents, self.rng.choice(days), tick)
            self.insert_source([row])
            self.done["source: new row on another day"] += 1
            return f"{created}source correction, {kind} updated_at: {row}"
        index = self.rng.randrange(len(rows))
        oid, customer, cents, day, stamp = rows[index]
        days = [d for d in DAYS if d != day and (stamp, d) not in taken]
        if not days:
            return created + self.edit_source()
        moved = self.rng.choice(days)
        table = orders_table()
        with environment(self.config).source.engine.begin() as connection:
            changed = connection.execute(
                sa.update(table)
                .where(
                    table.c.order_id == oid,
                    table.c.updated_at == updated_at(stamp),
                    table.c.order_date == source_time(day),
                )
                .values(order_date=source_time(moved))
            ).rowcount
        assert changed == 1, (oid, stamp, day)
        rows[index] = (oid, customer, cents, moved, stamp)
        self.last_day[oid] = moved
        self.done["source: order_date updated in place"] += 1
        return f"{created}source order {oid}: its row of updated_at tick {stamp} moved in place {day} -> {moved}"

    # --------------------------------------------------------------- landed files

    def land_file(self) -> str:
        """A file (new, or a new version of an earlier key). Orders the source or an earlier
        file holds mostly move to another day; some files carry ``updated_at`` and some hold
        two versions of one order on two days."""
        key = self.rng.choice(self.keys) if self.keys and self.rng.random() < 0.3 else f"f{len(self.keys):02d}.csv"
        if key not in self.keys:
            self.keys.append(key)
        stamped = self.rng.random() < 0.4
        in_files = {v[0] for rows in self.versions.values() for v in rows}
        rows: list[Version] = []
        ids = self.rng.sample(list(IDS), self.rng.randint(1, 4))
        if self.source and self.rng.random() < 0.5:  # a correction of an order of the source
            chosen = self.rng.choice(sorted(self.source))
            ids = [chosen, *(i for i in ids if i != chosen)][:4]
        for oid in ids:
            known = oid in self.last_day
            day = self.other_day(oid) if known and self.rng.random() < 0.7 else self.rng.choice(DAYS)
            if known and day != self.last_day[oid]:
                self.done["file: moves a source order" if oid in self.source else "file: moves a filed order"] += 1
                if oid in in_files:
                    self.done["files disagree on a day"] += 1
            rows.append(
                (oid, self.rng.choice(CUSTOMERS), self.rng.randint(-500, 5000), day, self.tick() if stamped else None)
            )
        if self.rng.random() < 0.3:  # a second version of one order, on another day
            first = rows[0]
            stamp = first[4]
            tick = self.rng.choice([self.tick(), stamp, stamp - 1]) if stamp is not None else None
            day = self.rng.choice([d for d in DAYS if d != first[3]])
            rows.append((first[0], self.rng.choice(CUSTOMERS), self.rng.randint(-500, 5000), day, tick))
            self.done["file: two versions of an order"] += 1
        for row in rows:
            self.last_day[row[0]] = row[3]
        header = "order_id,customer_id,amount,order_date" + (",updated_at" if stamped else "")
        body = (
            header
            + "\n"
            + "".join(
                f"{oid},{c},{Decimal(cents) / 100:.2f},{day}T12:00:00Z"
                + (f",{updated_at(u):%Y-%m-%dT%H:%M:%SZ}" if u is not None else "")
                + "\n"
                for oid, c, cents, day, u in rows
            )
        )
        data = body.encode()
        self.s3.put_object(Bucket=self.bucket, Key=f"landing/{key}", Body=data)
        uri = f"s3://{self.bucket}/landing/{key}"
        self.versions[(uri, hashlib.md5(data).hexdigest())] = rows
        return f"land {key}: {rows}"

    # --------------------------------------------------------------- tampering

    def tamper(self) -> tuple[str, dt.date | None]:
        """Change a published day (a current one if any) in SQL behind the pipeline's back,
        so that its two tables disagree (it can then equal no model): revenue or one
        customer's spend off by a cent, or a customer's nonzero spend row deleted. The random
        draws come first, so a seed replays the same sequence whatever the pipeline did."""
        pick, kind, who = self.rng.choice(DAYS), self.rng.choice(TAMPERINGS), self.rng.random()
        env = environment(self.config)
        revenue = env.warehouse.table(catalog.DAILY_REVENUE.name)
        spend = env.warehouse.table(catalog.CUSTOMER_DAILY_SPEND.name)
        with env.warehouse.engine.begin() as connection:
            days = sorted(connection.execute(sa.select(revenue.c.order_date)).scalars())
            if not days:
                return "tamper: nothing published yet", None
            current = [d for d, state in self.statuses().items() if state in CURRENT and d in days] or days
            day = pick if pick in current else current[0]
            customers = connection.execute(
                sa.select(spend.c.customer_id, spend.c.daily_spend)
                .where(spend.c.order_date == day)
                .order_by(spend.c.customer_id)
            ).all()
            targets = [c for c, s in customers if kind == "spend" or s != 0]
            if not targets:
                kind = "revenue"
            if kind == "revenue":
                connection.execute(
                    sa.update(revenue)
                    .where(revenue.c.order_date == day)
                    .values(revenue=revenue.c.revenue + Decimal("0.01"))
                )
                target = ""
            else:
                target = targets[int(who * len(targets))]
                where = (spend.c.order_date == day, spend.c.customer_id == target)
                if kind == "spend":
                    connection.execute(
                        sa.update(spend).where(*where).values(daily_spend=spend.c.daily_spend + Decimal("0.01"))
                    )
                else:
                    connection.execute(sa.delete(spend).where(*where))
        self.tampered.add(day)
        self.done["tamper"] += 1
        return f"tamper {kind} {target} on {day}".replace("  ", " "), day

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

    def latest(self) -> dict[int, Version]:
        """Each order's latest version: the latest landing, then the newest ``updated_at``
        (a landing without the column has none), then the later ``order_date``."""
        landings = [[v for rows in self.source.values() for v in rows]]
        landings += [self.versions[version] for version in self.registered()]
        best: dict[int, tuple[tuple, Version]] = {}
        for landing, rows in enumerate(landings):
            for version in rows:
                oid, _, _, day, tick = version
                rank = (landing, tick is not None, tick or 0, day)
                if oid not in best or rank > best[oid][0]:
                    best[oid] = (rank, version)
        return {oid: version for oid, (_, version) in best.items()}

    def expected(self) -> dict[dt.date, Day]:
        """What every day must hold: the orders whose latest version is on it."""
        spend: dict[dt.date, dict[str, int]] = {day: defaultdict(int) for day in DAYS}
        count: Counter[dt.date] = Counter()
        for _, customer, cents, day, _ in self.latest().values():
            spend[day][customer] += cents
            count[day] += 1
        return {day: (sum(spend[day].values()), count[day], dict(spend[day])) for day in DAYS}

    # --------------------------------------------------------------- the warehouse

    def held(self) -> dict[dt.date, Day]:
        """What the warehouse holds for every day (a day without a row holds nothing)."""
        env = environment(self.config)
        revenue = env.warehouse.read_table(catalog.DAILY_REVENUE.name)
        spend = env.warehouse.read_table(catalog.CUSTOMER_DAILY_SPEND.name)
        result = {}
        for day in DAYS:
            row = revenue[revenue["order_date"] == day]
            customers = spend[spend["order_date"] == day]
            result[day] = (
                int(row["revenue"].sum() * 100),
                int(row["order_count"].sum()),
                {c: int(s * 100) for c, s in zip(customers["customer_id"], customers["daily_spend"])},
            )
        return result

    def statuses(self) -> dict[dt.date, str]:
        return {s.partition: s.state for s in partition_statuses(self.config, DAYS[0], DAYS[-1])}

    # --------------------------------------------------------------- checks

    def check_current_days(self, history: list[str]) -> int:
        """Every day the grid calls current holds what the model says; returns how many."""
        statuses, held, expected = self.statuses(), self.held(), self.expected()
        current = [day for day in DAYS if statuses.get(day) in CURRENT]
        for day in current:
            assert held[day] == expected[day], replay(f"{day} is current and differs from the model", history)
        return len(current)

    def check_verify(self, history: list[str]) -> set[dt.date]:
        """``revenue verify`` reports exactly the days where the warehouse differs from the
        model (the model is read after verify: verify reads pending files first)."""
        reported = {d.partition for d in verify_range(self.config, DAYS[0], DAYS[-1])}
        held, expected = self.held(), self.expected()
        differing = {day for day in DAYS if held[day] != expected[day]}
        assert reported == differing, replay(
            f"verify reports {sorted(map(str, reported))}, the warehouse differs from the model on "
            f"{sorted(map(str, differing))}",
            history,
        )
        return reported

    def check_repaired(self, days: list[dt.date], history: list[str]) -> None:
        """A run of a tampered day repaired it: it equals the model and, if it has orders,
        is current."""
        statuses, held, expected = self.statuses(), self.held(), self.expected()
        for day in sorted(self.tampered & set(days)):
            why = "a run left the tampered day unrepaired" if expected[day][1] else "a day without orders kept its rows"
            assert held[day] == expected[day], replay(f"{day}: {why}", history)
            assert statuses.get(day) in CURRENT or not expected[day][1], replay(f"{day} repaired, not current", history)
            self.tampered.discard(day)


def replay(what: str, history: list[str]) -> str:
    """An assertion's message: what failed, then every step of the sequence (its seed first)."""
    return what + "\n" + "\n".join(f"  {n:2}. {step}" for n, step in enumerate(history))


ACTIONS = [
    "source",
    "source new row",
    "source in place",
    "land",
    "tamper",
    "landing run",
    "watcher",
    "cron",
    "backfill",
    "force",
]
WEIGHTS = [2, 2, 1, 4, 1, 3, 1, 2, 2, 1]
REQUIRED = ("source new row", "source in place", "tamper")
"""Every sequence does these at least once (in its second half, for a tampering to find a
published day)."""


def schedule(rng: random.Random, steps: int) -> list[str]:
    actions = rng.choices(ACTIONS, weights=WEIGHTS, k=steps)
    for kind in REQUIRED:
        if kind not in actions:
            actions.insert(rng.randrange(steps // 2, len(actions) + 1), kind)
    return actions


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("seed", [3, 7, 23])
def test_random_sequences_publish_what_the_model_says(pg_env, s3_endpoint, s3_bucket, seed):
    rng = random.Random(seed)
    seed_orders(pg_env, [])
    world = World(rng, pg_env, s3_client(s3_endpoint), s3_bucket)
    history: list[str] = [f"seed {seed}"]
    checked = 0
    for action in schedule(rng, 12):
        ran: list[dt.date] = []
        if action == "source":
            history.append(world.edit_source())
            continue
        if action in ("source new row", "source in place"):
            history.append(world.correct_source(in_place=action == "source in place"))
            continue
        if action == "land" or not world.keys:
            history.append(world.land_file())
            if rng.random() < 0.5:  # registered now (pending until a run reads it), or later
                history.append("watcher pass")
                watch_once(environment(pg_env).registry)
            continue
        if action == "tamper":
            done, day = world.tamper()
            history.append(done)
            repair_now = rng.random() < 0.5
            if day is None:
                continue
            assert day in world.check_verify(history), replay(f"verify misses the tampered day {day}", history)
            assert world.statuses().get(day) not in CURRENT, replay(
                f"the tampered day {day} is called current", history
            )
            if not repair_now:
                continue
            history.append(f"cron {day} (after tampering)")
            daily_revenue(partition_date=day.isoformat(), env=pg_env, return_state=True)
            ran = [day]
        elif action == "landing run":
            key = rng.choice(world.keys)
            history.append(f"landing run {key}")
            daily_revenue(landed_key=f"s3://{s3_bucket}/landing/{key}", env=pg_env, return_state=True)
        elif action == "watcher":
            history.append("watcher pass")
            watch_once(environment(pg_env).registry)
        elif action == "cron":
            day = rng.choice(DAYS)
            history.append(f"cron {day}")
            daily_revenue(partition_date=day.isoformat(), env=pg_env, return_state=True)
            ran = [day]
        else:
            history.append(f"backfill force={action == 'force'}")
            backfill(
                start=DAYS[0].isoformat(),
                end=DAYS[-1].isoformat(),
                env=pg_env,
                force=action == "force",
                return_state=True,
            )
            ran = list(DAYS)
        checked += world.check_current_days(history)
        world.check_repaired(ran, history)
        world.check_verify(history)

    history.append("watcher pass, final backfill")
    watch_once(environment(pg_env).registry)
    backfill(start=DAYS[0].isoformat(), end=DAYS[-1].isoformat(), env=pg_env, return_state=True)
    statuses, held, expected, latest = world.statuses(), world.held(), world.expected(), world.latest()
    assert all(statuses.get(day) in CURRENT for day in DAYS if expected[day][1]), replay(
        f"a day with orders not current: {statuses}", history
    )
    assert sum(count for _, count, _ in held.values()) == len(latest), replay("orders counted, not once each", history)
    assert sum(cents for cents, _, _ in held.values()) == sum(v[2] for v in latest.values()), replay("revenue", history)
    assert held == expected, replay("days differ from the model", history)
    world.check_repaired(list(DAYS), history)
    assert verify_range(pg_env, DAYS[0], DAYS[-1]) == [], replay("verify after the final backfill", history)
    assert checked > 0
    kinds = ("source: new row on another day", "source: order_date updated in place", "tamper")
    landed = world.done["file: moves a source order"] + world.done["file: moves a filed order"]
    assert landed and all(world.done[kind] for kind in kinds), replay(
        f"the sequence misses a kind of correction: {dict(world.done)}", history
    )
