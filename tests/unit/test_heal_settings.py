"""``revenue blocks create``'s healing settings, read from the environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.parametrize(("given", "settle"), [(None, 60), ("15", 15), ("0", 0)])
def test_the_settle_time_is_the_variable_zero_included(tmp_path: Path, given: str | None, settle: int):
    """``REVENUE_HEAL_SETTLE_SECONDS=0`` (heal at the first pass that sees a day behind) is
    in the accepted range and is kept: it once became the default, 60."""
    from blocks.create import blocks_from_environ, embedded_default_environ

    environ = embedded_default_environ(tmp_path)
    if given is not None:
        environ["REVENUE_HEAL_SETTLE_SECONDS"] = given
    assert blocks_from_environ(environ).heal_settle_seconds == settle
