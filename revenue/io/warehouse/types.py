"""The column types of the warehouse tables, and how a catalog column type maps to one."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from revenue.catalog import ColumnType
from revenue.contract import CENT

TIMESTAMP = sa.DateTime(timezone=True)

MONEY_PRECISION = 38
"""Digits of a money column: any total of int64 cents fits."""


class Money(sa.types.TypeDecorator[Decimal]):
    """An exact amount with two decimals: ``numeric(38, 2)``, or decimal text on SQLite
    (whose numbers are 64-bit floats); ``Decimal`` in Python."""

    impl = sa.Numeric(MONEY_PRECISION, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.Text())
        return dialect.type_descriptor(sa.Numeric(MONEY_PRECISION, 2, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        amount = Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)
        return str(amount) if dialect.name == "sqlite" else amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


COLUMN_TYPES: dict[ColumnType, sa.types.TypeEngine[Any] | type[sa.types.TypeEngine[Any]]] = {
    "bigint": sa.BigInteger,
    "text": sa.Text,
    "date": sa.Date,
    "timestamp": TIMESTAMP,
    "money": Money,
    "json": sa.Text,
}
"""The SQL type of each catalog column type."""
