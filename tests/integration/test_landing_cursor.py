"""Listing the landing prefix after its cursor: a pass lists only the keys after the
greatest key listed so far (S3's ``StartAfter`` on moto's server), and the periodic full
listing finds a file landed under a key that sorts before the cursor."""

from __future__ import annotations

import datetime as dt

from revenue.io.environment import environment
from revenue.io.landing.listing import listing_cursor, watch_once
from tests.integration.conftest import s3_client

CSV = "order_id,customer_id,amount,order_date\n{id},c,1.00,2026-03-05T10:00:00Z\n"
HOUR = dt.timedelta(hours=1)


def test_a_pass_lists_after_the_cursor_and_the_full_listing_finds_a_straggler(
    pg_env, s3_endpoint, s3_bucket, monkeypatch
):
    env = environment(pg_env)
    listings: list[tuple[str | None, list[str]]] = []
    original = env.landing.list

    def recorded(prefix: str = "", start_after: str | None = None):
        found = original(prefix, start_after=start_after)
        listings.append((start_after, [o.key for o in found]))
        return found

    monkeypatch.setattr(env.landing, "list", recorded)
    s3 = s3_client(s3_endpoint)

    def land(name: str, n: int) -> None:
        s3.put_object(Bucket=s3_bucket, Key=f"landing/{name}", Body=CSV.format(id=n).encode())

    land("2026/03/01/orders.csv", 1)
    land("2026/03/02/orders.csv", 2)
    watch_once(env.registry, HOUR)
    assert listings[-1] == (None, ["2026/03/01/orders.csv", "2026/03/02/orders.csv"])  # no cursor yet: in full
    assert listing_cursor(env.registry, HOUR) == "2026/03/02/orders.csv"

    land("2026/03/03/orders.csv", 3)
    land("2026/02/28/orders.csv", 4)  # late, under a key before the cursor
    watch_once(env.registry, HOUR)
    assert listings[-1] == ("2026/03/02/orders.csv", ["2026/03/03/orders.csv"])  # only what sorts after it
    assert {v.key for v in env.registry.unannounced()} == {f"2026/03/0{d}/orders.csv" for d in (1, 2, 3)}

    watch_once(env.registry)  # without a cursor interval: the whole prefix, as before
    assert listings[-1][0] is None and "2026/02/28/orders.csv" in listings[-1][1]
    assert "2026/02/28/orders.csv" in {v.key for v in env.registry.unannounced()}

    land("2026/02/27/orders.csv", 5)
    watch_once(env.registry, dt.timedelta(0))  # the full listing is due: the straggler is found
    assert listings[-1][0] is None
    assert "2026/02/27/orders.csv" in {v.key for v in env.registry.unannounced()}
    assert listing_cursor(env.registry, HOUR) == "2026/03/03/orders.csv"  # never moves back


def test_the_same_bytes_put_back_after_a_landing_was_replaced_unread_are_a_new_landing(sqlite_env):
    """A file deleted before anyone read it leaves a ``replaced`` landing; the same bytes
    put back under the key must be registered again (a listing pass used to skip them,
    their ETag being the URI's latest)."""
    env = environment(sqlite_env)
    body = CSV.format(id=7).encode()
    env.landing.put("orders-0305.csv", body)
    [first] = watch_once(env.registry)
    (env.landing.root / "orders-0305.csv").unlink()  # gone before it was read
    [gone] = env.registry.read_pending()
    assert gone.read_status == "replaced"

    env.landing.put("orders-0305.csv", body)  # the same bytes, so the same ETag
    again = [v for v in watch_once(env.registry) if v.uri == first.uri and v.seq > first.seq]
    assert [v.etag for v in again] == [first.etag]
    assert env.registry.registration(again[0]).read_status == "read"


def test_a_listed_key_breaking_the_key_rule_is_skipped_and_logged_once(pg_env, s3_endpoint, s3_bucket, caplog):
    """The listing applies the rule a run and the queue apply: an S3 key with an empty
    segment or a control character is not registered (it used to be, as ``/etc/passwd``)."""
    import logging

    env = environment(pg_env)
    s3 = s3_client(s3_endpoint)
    bad = ["landing//etc/passwd", "landing/a//b.csv", "landing/x\x1b[2J.csv"]
    for n, key in enumerate([*bad, "landing/good.csv"]):
        s3.put_object(Bucket=s3_bucket, Key=key, Body=CSV.format(id=n + 1).encode())
    with caplog.at_level(logging.WARNING, logger="revenue.io.landing.zone"):
        assert [v.key for v in watch_once(env.registry)] == ["good.csv"]
        watch_once(env.registry)
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == len(bad), skipped  # each once, over two passes
    assert not any("\x1b" in line for line in skipped)
    assert any("x\\x1b[2J.csv" in line and "a control character" in line for line in skipped)
