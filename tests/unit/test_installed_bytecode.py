"""The environment `make` installs holds compiled bytecode (``UV_COMPILE_BYTECODE=1``).

Where ``PYTHONDONTWRITEBYTECODE`` is set (this machine, many containers) Python never writes
what it compiles, so an environment installed without bytecode makes every process compile
Prefect, pandas and Great Expectations from source again (``import prefect`` 11-13 s instead
of 5 s on a loaded machine). Only an install-time compile leaves a ``.pyc`` beside modules no
process imported: a package almost fully compiled is the sign of it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def _compiled_share(package: str) -> float:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin is not None
    sources = list(Path(spec.origin).parent.rglob("*.py"))
    compiled = [s for s in sources if Path(importlib.util.cache_from_source(str(s))).exists()]
    return len(compiled) / len(sources)


@pytest.mark.parametrize("package", ["prefect", "pandas", "great_expectations"])
def test_the_heavy_dependencies_are_installed_compiled(package: str) -> None:
    assert _compiled_share(package) > 0.95, f"{package} was installed without bytecode: run `make setup`"
