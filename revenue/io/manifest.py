"""Manifests of embedded-default environments: what ``status`` and ``verify`` need to answer
without a Prefect server, readable without importing Prefect.

Under the revenue home (``revenue.settings.HOME``): ``environments/<env>.json`` for each
embedded-default environment: its environment settings (``revenue.settings.recordable``:
SQLite URLs and local directories, never a secret such as an alert destination). The
blocks stay the source of truth for runs; ``revenue blocks create --local``, ``revenue
demo`` and ``revenue dev`` write both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from revenue.env_name import check_env_name
from revenue.settings import SOURCE_DB_URL, WAREHOUSE_DB_URL, recordable

MANIFEST_DIR = "environments"
EMBEDDED_DATABASES = (SOURCE_DB_URL, WAREHOUSE_DB_URL)


def manifest_path(home: Path, env: str) -> Path:
    """``<home>/environments/<env>.json``; a name that could leave that directory is refused."""
    return home / MANIFEST_DIR / f"{check_env_name(env)}.json"


def write_manifest(home: Path, env: str, environ: Mapping[str, str]) -> Path:
    """Record an embedded-default environment's variables (paths only: it holds no secret)."""
    if any(key.startswith("AWS_") for key in environ) or not all(
        setting.text(environ).startswith("sqlite:") for setting in EMBEDDED_DATABASES
    ):
        raise ValueError("only an embedded-default environment (SQLite and local directories) has a manifest")
    path = manifest_path(home, env)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(recordable(environ), indent=2, sort_keys=True))
    return path


def read_manifest(home: Path, env: str) -> dict[str, str] | None:
    """The environment's recorded variables, or None if it has no manifest."""
    path = manifest_path(home, env)
    return json.loads(path.read_text()) if path.is_file() else None
