"""Merging landed-file rows into a day's source rows.

Grain of the result: one row per source or file row that survives the merge (order ids
may still repeat within one input; ``clean_orders`` keeps the newest). A file's rows
replace every source row, and every earlier file's row, with the same ``order_id``:
the file wins. Files apply in the order given (oldest landing first).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


def _id_text(values: pd.Series) -> pd.Series:
    text = values.astype("str").str.strip()
    return text.str.replace(r"\.0$", "", regex=True)


def merge_landed_rows(source: pd.DataFrame, files: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Source rows of the day with each file's rows applied on top, by ``order_id``."""
    merged = source.reset_index(drop=True)
    for rows in files:
        if rows.empty:
            continue
        replaced = _id_text(merged["order_id"]).isin(set(_id_text(rows["order_id"].dropna())))
        merged = pd.concat(
            [merged.loc[~replaced].astype("object"), rows.reset_index(drop=True).astype("object")],
            ignore_index=True,
        )
    return merged
