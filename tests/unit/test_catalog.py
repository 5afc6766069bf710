"""The catalog is each dataset's whole definition, and what is built from it agrees with it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from revenue import catalog
from revenue.io.warehouse.database import Warehouse
from revenue.quality.suites import SPECS

ROOT = Path(__file__).resolve().parents[2]
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def test_the_architecture_page_shows_the_catalog_as_generated():
    """``docs/architecture.md`` holds the table ``markdown_table()`` prints between its
    markers: a change to the catalog is a change to the page."""
    regenerate = "run `python -m revenue.catalog --write docs/architecture.md`"
    assert ARCHITECTURE.exists(), f"{ARCHITECTURE} is missing: create it with the catalog markers and {regenerate}"
    region = catalog.generated_region(ARCHITECTURE.read_text(encoding="utf-8"))
    assert region is not None, f"{ARCHITECTURE} lacks {catalog.BEGIN} / {catalog.END}: add them and {regenerate}"
    assert region == catalog.markdown_table(), f"the table of datasets in {ARCHITECTURE} is out of date: {regenerate}"


def test_the_generator_writes_the_region_between_the_markers_only(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(f"# Title\n\nbefore\n{catalog.BEGIN}\nold table\n{catalog.END}\nafter\n", encoding="utf-8")
    subprocess.run([sys.executable, "-m", "revenue.catalog", "--write", str(page)], check=True, cwd=ROOT)
    text = page.read_text(encoding="utf-8")
    assert text == f"# Title\n\nbefore\n{catalog.BEGIN}\n{catalog.markdown_table()}{catalog.END}\nafter\n"
    printed = subprocess.run([sys.executable, "-m", "revenue.catalog"], check=True, cwd=ROOT, capture_output=True)
    assert printed.stdout.decode() == catalog.markdown_table()


def test_a_page_without_markers_is_refused():
    with pytest.raises(ValueError, match="catalog:begin"):
        catalog.with_table("# no markers\n")


def test_the_table_has_a_line_per_dataset():
    lines = catalog.markdown_table().splitlines()
    assert lines[0] == "| dataset | grain | key | columns | stored in | upstream | suite |"
    assert [line.split(" | ")[0] for line in lines[2:]] == [f"| `{d.name}`" for d in catalog.CATALOG]


def test_every_upstream_is_a_dataset_of_the_catalog_declared_before_it():
    seen: set[str] = set()
    for dataset in catalog.CATALOG:
        assert set(dataset.upstream) <= seen, dataset.name
        seen.add(dataset.name)


def test_the_lineage_looks_through_the_datasets_that_are_not_stored():
    assert catalog.stored_upstream("cleaned_orders") == ("orders",)
    assert catalog.stored_upstream("daily_revenue") == ("cleaned_orders",)
    assert dict(catalog.lineage()) == {
        "orders": ("cleaned_orders", "rejected_orders"),
        "cleaned_orders": ("daily_revenue", "customer_daily_spend"),
    }


def test_the_gated_datasets_are_the_ones_with_a_suite_and_each_has_its_expectations():
    assert catalog.GATED == ("raw_orders", "cleaned_orders", "daily_revenue")
    assert set(SPECS) == set(catalog.GATED)


def test_the_published_tables_are_the_catalog_columns_keyed_on_the_grain():
    warehouse = Warehouse(sa.create_engine("sqlite://"))
    for dataset in catalog.PUBLISHED:
        table = warehouse.table(dataset.warehouse_table())
        assert [c.name for c in table.columns] == [c.name for c in dataset.columns]
        assert tuple(c.name for c in table.primary_key.columns) == dataset.key
        assert [c.name for c in table.columns if c.nullable] == [c.name for c in dataset.columns if c.nullable]


def test_the_orders_and_quarantine_columns_come_from_the_catalog():
    from revenue.contract import REQUIRED_COLUMNS
    from revenue.transforms.clean import REJECTED_COLUMNS, empty_rejected

    assert REQUIRED_COLUMNS == ("order_id", "customer_id", "amount", "order_date")
    assert REJECTED_COLUMNS == ("origin", "line", "landing_seq", "order_id", "reason", "record")
    assert list(empty_rejected().columns) == list(REJECTED_COLUMNS)
    assert catalog.FILE_REJECT_COLUMNS == ("line", "order_id", "reason", "record")
