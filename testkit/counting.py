"""How many order rows this process has extracted: the proof a test or the benchmark needs
that a cache hit, a skipped day or ``revenue status`` read no order rows.

``install()`` wraps ``OrdersSource.extract`` (every instance, every thread) once per process;
``rows_read()`` is the running total since. The pipeline itself keeps no such counter."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import datetime as dt

    import pandas as pd

_lock = threading.Lock()
_rows = 0
_installed = False


def install() -> None:
    """Count the rows every ``OrdersSource.extract`` returns from now on (idempotent)."""
    global _installed
    from revenue.io.source import OrdersSource

    with _lock:
        if _installed:
            return
        extract = OrdersSource.extract

        def counted(self: OrdersSource, partition: dt.date) -> pd.DataFrame:
            global _rows
            frame = extract(self, partition)
            with _lock:
                _rows += len(frame)
            return frame

        OrdersSource.extract = counted  # type: ignore[method-assign]
        _installed = True


def rows_read() -> int:
    """Order rows extracted in this process since ``install()``."""
    if not _installed:
        raise RuntimeError("testkit.counting.install() was not called in this process")
    return _rows
