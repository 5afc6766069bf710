"""Prefect's temporary local server, started the way a first run on a fresh machine needs.

With no ``PREFECT_API_URL`` (no ``revenue dev``, no profile), Prefect starts a temporary
server the first time a client asks for its API, and gives up after
``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS`` (20 s by default). On an empty
``PREFECT_HOME`` that server first creates and migrates its database, which takes 30 s or
more on a loaded machine: the first ``revenue demo`` failed, the second passed. The commands
that need an API start it here first, saying what they wait for, and wait as long as a first
migration takes (``REVENUE_SERVER_START_TIMEOUT`` seconds, default 300: a first migration on a loaded
2-core machine took 28-35 s, ten times that is still an answer, not a hang; never less
than Prefect's own setting). Prefect's clients then find the same server running (it is one
per process) and reuse it.

That server listens on loopback with Prefect's defaults: no authentication and every origin
granted. ``protect_temporary_server`` (called by the CLI before it imports Prefect, when no
API is configured) gives it, and this process's clients, a random auth string for the
command's lifetime: a web page that finds its port reads nothing from it.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import TextIO


def protect_temporary_server(environ: MutableMapping[str, str] = os.environ) -> bool:
    """Give the temporary server this process may start a random auth string (server and
    client settings alike) unless one is set; True if it was set here."""
    if environ.get("PREFECT_API_URL") or environ.get("PREFECT_SERVER_API_AUTH_STRING"):
        return False
    secret = f"revenue:{secrets.token_urlsafe(32)}"
    environ["PREFECT_SERVER_API_AUTH_STRING"] = secret
    environ["PREFECT_API_AUTH_STRING"] = secret
    return True


def start_timeout() -> int:
    """How long to wait for the temporary server to answer, in seconds."""
    from prefect.settings import PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS

    from revenue.settings import SERVER_START_TIMEOUT

    return max(SERVER_START_TIMEOUT.value(), PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value())


def _database_file() -> Path | None:
    """The temporary server's SQLite file, when it keeps its database in one."""
    from prefect.settings import get_current_settings

    url = get_current_settings().server.database.connection_url
    text = url.get_secret_value() if url is not None else ""
    prefix = "sqlite+aiosqlite:///"
    return Path(text[len(prefix) :]) if text.startswith(prefix) else None


def ensure_api(stream: TextIO = sys.stderr) -> None:
    """Make sure a Prefect API answers: a configured server is used as it is; otherwise the
    temporary server is started now, with a line on ``stream`` saying so (and that its first
    start creates the database, when it does)."""
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        return  # a real server (or none allowed: Prefect's client says so itself)
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    if server.running:
        return
    database = _database_file()
    first = database is not None and not database.exists()
    timeout = start_timeout()
    what = (
        f"its first start creates its database in {database} (about 30 s, up to {timeout} s allowed)"
        if first
        else f"up to {timeout} s allowed"
    )
    print(
        f"revenue: no Prefect server configured (PREFECT_API_URL, or `revenue dev`): "
        f"starting Prefect's temporary local server; {what}",
        file=stream,
        flush=True,
    )
    server.start(timeout=timeout)
