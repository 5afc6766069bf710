"""Lake writer: Parquet files of a partition under deterministic keys.

Layout: ``<dataset>/order_date=YYYY-MM-DD/part-0.parquet``. Writing a partition again
replaces its file, so reruns never accumulate duplicates.
"""

from __future__ import annotations

import datetime as dt
import io

import pandas as pd

from revenue.io.errors import service
from revenue.io.storage import ObjectStore, StoredObject


def partition_key(dataset: str, partition: dt.date) -> str:
    return f"{dataset}/order_date={partition.isoformat()}/part-0.parquet"


def to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    """Parquet bytes; an extra column mixing types (source values and landed-file text)
    is written as text rather than failing the partition."""
    buffer = io.BytesIO()
    try:
        frame.to_parquet(buffer, index=False, engine="pyarrow")
    except (TypeError, ValueError):
        mixed = [c for c in frame.columns if frame[c].dtype == object]
        as_text = frame.assign(**{c: frame[c].map(lambda v: None if pd.isna(v) else str(v)) for c in mixed})
        buffer = io.BytesIO()
        as_text.to_parquet(buffer, index=False, engine="pyarrow")
    return buffer.getvalue()


def write_partition(store: ObjectStore, dataset: str, partition: dt.date, frame: pd.DataFrame) -> StoredObject:
    """Write one dataset's partition as Parquet and return where it went."""
    data = to_parquet_bytes(frame)
    with service(f"lake {store.uri()}", f"writing {dataset}", partition):
        return store.put(partition_key(dataset, partition), data)


def read_partition(store: ObjectStore, dataset: str, partition: dt.date) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(store.get(partition_key(dataset, partition))))
