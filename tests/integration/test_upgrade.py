"""An environment made by an earlier version (its block type was ``revenue-pipeline``)
is named as such, with the upgrade steps, not reported as missing."""

from __future__ import annotations

import uuid

import pytest
from prefect.blocks.core import Block

from revenue.errors import UnknownEnvironmentError
from revenue.io.block_lookup import EARLIER_BLOCK_TYPE
from revenue.io.environment import environment


class EarlierPipeline(Block):
    """The environment block as an earlier version registered it (fields trimmed)."""

    _block_type_name = "Revenue Pipeline"
    _block_type_slug = EARLIER_BLOCK_TYPE
    source_table: str = "orders"


def test_an_environment_of_an_earlier_version_says_how_to_upgrade():
    name = f"old-{uuid.uuid4().hex[:8]}"
    EarlierPipeline().save(name)
    with pytest.raises(UnknownEnvironmentError) as raised:
        environment(name)
    message = str(raised.value)
    assert "earlier version" in message and f"revenue blocks create --env {name}" in message
    assert "prefect deploy --all" in message


def test_a_missing_environment_is_still_missing():
    name = f"none-{uuid.uuid4().hex[:8]}"
    with pytest.raises(UnknownEnvironmentError, match="no environment block"):
        environment(name)


def test_the_command_line_names_an_earlier_versions_environment_too():
    """The commands ask the server for the block before loading it: same diagnosis there."""
    import os
    import subprocess
    import sys

    from prefect.settings import PREFECT_API_URL

    name = f"old-{uuid.uuid4().hex[:8]}"
    EarlierPipeline().save(name)
    result = subprocess.run(
        [sys.executable, "-m", "cli", "status", "--env", name],
        env={**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value() or ""},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert "earlier version" in result.stderr and f"revenue blocks create --env {name}" in result.stderr
