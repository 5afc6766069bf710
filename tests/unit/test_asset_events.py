"""The asset events a published partition emits: every key Prefect's asset key validation
accepts (landed files with hostile names included), and a dataset's asset keeps one name
from day to day (the day is in the payload)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pytest
from prefect.types.names import MAX_ASSET_KEY_LENGTH, validate_valid_asset_key

from flows.partition_records import emit_asset_events
from revenue import catalog
from revenue.io.asset_keys import asset_key
from revenue.io.storage import LocalStore

DAY = dt.date(2026, 3, 1)
HOSTILE_KEYS = [
    "orders 2026-03-01.csv",
    "100% done.csv",
    "commandes-été-東京.csv",
    "what?#&'\"<>[]{}|\\^`.csv",
    "tab\tand%0Aescaped.csv",
    "deep/" * 150 + "long.csv",
]
ASSET_EVENTS = ("prefect.asset.referenced", "prefect.asset.materialization.succeeded")


class FakeEnvironment:
    """Dataset asset keys as ``Environment.asset_keys`` makes them."""

    def asset_keys(self, dataset: str) -> list[str]:
        return [f"postgres://db:5432/revenue/public/{dataset}", f"s3://lake/revenue/{dataset}"]


def emitted(monkeypatch: pytest.MonkeyPatch, day: dt.date, uris: list[str]) -> list[dict[str, Any]]:
    """The events ``emit_asset_events`` emits for a partition read from ``uris``."""
    import prefect.events

    events: list[dict[str, Any]] = []
    monkeypatch.setattr(prefect.events, "emit_event", lambda **event: events.append(event))
    frames = {
        catalog.CLEANED_ORDERS.name: [1, 2, 3],
        catalog.DAILY_REVENUE.name: [1],
        catalog.CUSTOMER_DAILY_SPEND.name: [1, 2],
        catalog.REJECTED_ORDERS.name: [1],
    }
    computed = SimpleNamespace(
        input=SimpleNamespace(partition=day, files=[SimpleNamespace(uri=uri) for uri in uris]),
        stored_frames=lambda: frames,
    )
    emit_asset_events(FakeEnvironment(), computed, SimpleNamespace(fingerprint="f-1"))
    return events


def asset_ids(events: list[dict[str, Any]]) -> list[str]:
    """Every resource id of an asset event, and every related asset."""
    ids = []
    for event in events:
        if event["event"] in ASSET_EVENTS:
            ids.append(event["resource"]["prefect.resource.id"])
        related = event.get("related") or []
        ids.extend(r["prefect.resource.id"] for r in related if r["prefect.resource.role"] == "asset")
    return ids


@pytest.mark.parametrize("key", HOSTILE_KEYS, ids=range(len(HOSTILE_KEYS)))
def test_asset_events_of_a_hostile_landed_key_pass_prefect_validation(monkeypatch, tmp_path, key):
    uris = [LocalStore(tmp_path).uri(key), f"s3://landing-bucket/in/{key}"]
    ids = asset_ids(emitted(monkeypatch, DAY, uris))
    assert len(ids) > 2
    for asset in ids:
        assert validate_valid_asset_key(asset) == asset


def test_a_dataset_asset_keeps_its_name_from_day_to_day(monkeypatch):
    def names_and_days(day: dt.date) -> dict[str, tuple[str, str]]:
        events = emitted(monkeypatch, day, ["s3://landing-bucket/in/orders.csv"])
        return {
            e["resource"]["prefect.resource.id"]: (e["resource"]["prefect.resource.name"], e["payload"]["partition"])
            for e in events
            if e["event"] == "prefect.asset.materialization.succeeded"
        }

    first, second = names_and_days(DAY), names_and_days(DAY + dt.timedelta(days=1))
    assert first.keys() == second.keys() and first
    for key in first:
        assert first[key][0] == second[key][0], key
        assert (first[key][1], second[key][1]) == ("2026-03-01", "2026-03-02")
    assert {name for name, _ in first.values()} == {
        catalog.CLEANED_ORDERS.name,
        catalog.DAILY_REVENUE.name,
        catalog.CUSTOMER_DAILY_SPEND.name,
        catalog.REJECTED_ORDERS.name,
    }


# ---------------------------------------------------------------------------------------------
# asset_key


@pytest.mark.parametrize("key", HOSTILE_KEYS, ids=range(len(HOSTILE_KEYS)))
def test_asset_key_is_valid_and_stable(tmp_path, key):
    for uri in (LocalStore(tmp_path).uri(key), f"s3://landing-bucket/in/{key}"):
        made = asset_key(uri)
        assert validate_valid_asset_key(made) == made
        assert asset_key(uri) == made


def test_asset_key_leaves_a_valid_uri_alone():
    for uri in ("s3://bucket/landing/orders-2026-03-01.csv", "postgres://db:5432/revenue/public/daily_revenue"):
        assert asset_key(uri) == uri


def test_asset_key_reads_percent_encoding_and_keeps_unicode(tmp_path):
    assert asset_key("file:///landing/orders%202026%20%C3%A9t%C3%A9.csv") == "file:///landing/orders_2026_été.csv"
    assert asset_key("s3://b/in/orders 2026.csv") == "s3://b/in/orders_2026.csv"
    assert asset_key("S3://b/x.csv") == "s3://b/x.csv"


def test_long_uris_are_cut_to_distinct_keys():
    base = "s3://bucket/" + "x" * 600
    first, second = asset_key(base + "/a.csv"), asset_key(base + "/b.csv")
    assert len(first) == len(second) == MAX_ASSET_KEY_LENGTH
    assert first != second
    assert validate_valid_asset_key(first) == first


def test_a_lake_folder_with_hostile_characters_is_a_valid_dataset_key(tmp_path):
    from prefect.filesystems import LocalFileSystem

    from revenue.io.environment import _storage_asset

    key = _storage_asset(LocalFileSystem(basepath=str(tmp_path / "my lake 100%")), catalog.DAILY_REVENUE.name)
    assert validate_valid_asset_key(key) == key
    assert key.endswith("/my_lake_100_/daily_revenue")


@pytest.mark.parametrize("text", ["orders.csv", "/landing/orders.csv", "://x", "1 2://x"])
def test_asset_key_needs_a_scheme(text):
    with pytest.raises(ValueError, match="not a URI"):
        asset_key(text)


def test_every_dataset_the_grid_draws_has_its_materialization(monkeypatch):
    """The grid's lineage line and the asset events come from the catalog alike: each
    dataset drawn downstream of another is materialized, with its catalog upstream related."""
    events = emitted(monkeypatch, DAY, [])
    materialized = {
        e["resource"]["prefect.resource.name"]: {r["prefect.resource.id"] for r in e["related"]}
        for e in events
        if e["event"] == "prefect.asset.materialization.succeeded"
    }
    drawn = {(up, down) for up, downs in catalog.lineage() for down in downs}
    assert {down for _, down in drawn} == set(materialized)
    for upstream, dataset in drawn:
        assert set(FakeEnvironment().asset_keys(upstream)) <= materialized[dataset], (upstream, dataset)
