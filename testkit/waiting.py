"""Waiting for a condition, never for a fixed time: the one polling loop the tests and the
benchmark share."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T | None],
    timeout: float,
    what: str,
    interval: float = 0.2,
    on_timeout: Callable[[], str] = lambda: "",
) -> T:
    """``predicate()``'s first truthy value, asked every ``interval`` seconds; an
    ``AssertionError`` naming ``what`` (and ``on_timeout()``'s text) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}. {on_timeout()}".rstrip(". "))
        time.sleep(interval)
