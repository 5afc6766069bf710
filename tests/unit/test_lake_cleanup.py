"""Lake versions on a local store (real files): what each step of a publish deletes or
writes again, in the order publishes of one day take the day's lock."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from revenue import catalog
from revenue.io.lake import LakeVersion
from revenue.io.storage import KeyRefused, LocalStore

DAY = dt.date(2026, 3, 1)
DATASET = "daily_revenue"
FOLDER = f"{DATASET}/order_date=2026-03-01/"
COLUMNS = catalog.dataset(DATASET).column_names("transform")


def rows(revenue: float, **extra: list[object]) -> pd.DataFrame:
    """One row with the dataset's catalog columns (``revenue`` tells versions apart)."""
    return pd.DataFrame({**{c: [1] for c in COLUMNS}, "order_date": [DAY], "revenue": [revenue], **extra})


def files(store: LocalStore) -> set[str]:
    return {o.key for o in store.list(FOLDER)}


def written(store: LocalStore, revenue: float) -> LakeVersion:
    version = LakeVersion(store, DAY)
    version.write(DATASET, rows(revenue))
    return version


def test_each_publish_writes_its_own_file(tmp_path: Path):
    store = LocalStore(tmp_path)
    first, second = written(store, 1.0), written(store, 2.0)
    assert first.key(DATASET) != second.key(DATASET)
    assert files(store) == {first.key(DATASET), second.key(DATASET)}
    assert first.key(DATASET).startswith(f"{FOLDER}part-") and first.key(DATASET).endswith(".parquet")


def test_publishes_in_lock_order_leave_the_committed_file_only(tmp_path: Path):
    store = LocalStore(tmp_path)
    published = written(store, 1.0)  # committed earlier: the ledger names it
    leftover = written(store, 9.0)  # a publish killed before its cleanup
    (tmp_path / FOLDER / "_SUCCESS").write_text("")  # not a part file: never touched
    a, b = written(store, 2.0), written(store, 3.0)  # both in flight, a takes the lock first
    ledger = {DATASET: published.uri(DATASET)}

    a.settle(ledger)  # under the lock: leftover and b's file are deleted
    assert files(store) == {published.key(DATASET), a.key(DATASET), f"{FOLDER}_SUCCESS"}
    a.retire(ledger)  # committed: the ledger names a's file; the replaced one goes
    ledger = {DATASET: a.uri(DATASET)}
    assert files(store) == {a.key(DATASET), f"{FOLDER}_SUCCESS"}

    b.settle(ledger)  # b holds the lock: its file, deleted by a, is written again
    assert files(store) == {a.key(DATASET), b.key(DATASET), f"{FOLDER}_SUCCESS"}
    assert pd.read_parquet(tmp_path / b.key(DATASET))["revenue"].tolist() == [3.0]
    b.retire(ledger)
    assert files(store) == {b.key(DATASET), f"{FOLDER}_SUCCESS"}
    assert leftover.key(DATASET) not in files(store)


def test_a_failed_publish_deletes_its_files_unless_the_ledger_names_them(tmp_path: Path):
    store = LocalStore(tmp_path)
    published, failed = written(store, 1.0), written(store, 2.0)
    failed.discard({DATASET: published.uri(DATASET)})
    assert files(store) == {published.key(DATASET)}

    committed = written(store, 3.0)  # its commit went through, though the publish raised
    committed.discard({DATASET: committed.uri(DATASET)})
    assert committed.key(DATASET) in files(store)


def test_a_local_store_deletes_no_file_through_a_link(tmp_path: Path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "part-1.parquet").write_text("keep")
    store = LocalStore(tmp_path / "lake")
    (tmp_path / "lake").mkdir()
    (tmp_path / "lake" / DATASET).symlink_to(outside, target_is_directory=True)
    with pytest.raises(KeyRefused):
        store.delete(f"{DATASET}/part-1.parquet")
    assert (outside / "part-1.parquet").read_text() == "keep"
    store.delete("missing/part-2.parquet")  # nothing to delete is not an error


def test_a_file_has_the_catalog_columns_first_and_refuses_rows_without_one(tmp_path: Path):
    store = LocalStore(str(tmp_path))
    version = LakeVersion(store, DAY)
    shuffled = rows(1.5, extra=["x"])
    version.write(DATASET, shuffled[list(reversed(shuffled.columns))])
    written_back = pd.read_parquet(tmp_path / version.key(DATASET))
    assert list(written_back.columns) == [*COLUMNS, "extra"]
    assert COLUMNS[:2] == ("order_date", "revenue")
    with pytest.raises(ValueError, match="lack the column"):
        version.write(DATASET, rows(1.5).drop(columns=[COLUMNS[-1]]))
