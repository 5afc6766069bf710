"""What turns a setting on or off when it is written as text (``REVENUE_HEAL``, the
``revenue_heal_<env>`` Prefect variable). Pure: blocks, io and flows share it."""

from __future__ import annotations

SWITCH_ON, SWITCH_OFF = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def switch_value(value: object) -> bool | None:
    """True or False for the words of ``SWITCH_ON`` or ``SWITCH_OFF`` (any case, spaces
    around), None for anything else, the empty text included."""
    text = str(value).strip().lower()
    return True if text in SWITCH_ON else False if text in SWITCH_OFF else None
