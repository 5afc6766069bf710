"""Where a running ``revenue dev`` is, so every ``revenue`` command of the project finds its
Prefect server by itself: no variable to export, no temporary server started.

``revenue dev`` writes ``<REVENUE_HOME>/dev.json`` (default ``.revenue/dev.json``) when its
server answers and removes it when it stops. ``use_running_server`` (called by the CLI
before it imports Prefect) points ``PREFECT_API_URL`` at that server when the variable is
not set and the ``revenue dev`` process that wrote the file is still alive. Reading it costs
a file read and a signal-0 ``kill``; nothing here imports Prefect.
"""

from __future__ import annotations

import json
import os
from collections.abc import MutableMapping
from dataclasses import asdict, dataclass
from pathlib import Path

STATE_FILE = "dev.json"


@dataclass(frozen=True)
class DevServer:
    """A running ``revenue dev``: its Prefect server and the environment it serves."""

    api_url: str
    ui_url: str
    dev_pid: int
    server_pid: int | None
    """The Prefect server ``revenue dev`` started (and stops); None when it reused one."""
    config: str


def state_path(home: Path) -> Path:
    return home / STATE_FILE


def record(home: Path, server: DevServer) -> Path:
    path = state_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(server), indent=2))
    return path


def forget(home: Path, dev_pid: int) -> None:
    """Remove the state file if it is this ``revenue dev``'s."""
    found = _read(home)
    if found is not None and found.dev_pid == dev_pid:
        state_path(home).unlink(missing_ok=True)


def running(home: Path) -> DevServer | None:
    """The ``revenue dev`` of this project, if its process is alive (a stale file, left by
    one that was killed, is ignored)."""
    found = _read(home)
    return found if found is not None and alive(found.dev_pid) else None


def left_behind(home: Path) -> DevServer | None:
    """The state of a ``revenue dev`` that died without cleaning up (killed) while the server
    it started still runs; None otherwise."""
    found = _read(home)
    if found is None or alive(found.dev_pid) or found.server_pid is None or not alive(found.server_pid):
        return None
    return found


def use_running_server(home: Path, environ: MutableMapping[str, str] = os.environ) -> DevServer | None:
    """Point ``PREFECT_API_URL`` at a running ``revenue dev`` server unless an API is already
    configured: by the variable, or by the active Prefect profile (read from its file, so
    Prefect is not imported)."""
    if environ.get("PREFECT_API_URL") or profile_api_url(environ):
        return None
    found = running(home)
    if found is not None:
        environ["PREFECT_API_URL"] = found.api_url
    return found


def profile_api_url(environ: MutableMapping[str, str] = os.environ) -> str | None:
    """``PREFECT_API_URL`` of the active profile in Prefect's profiles file, if any."""
    import tomllib

    home = Path(environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
    path = Path(environ.get("PREFECT_PROFILES_PATH") or home / "profiles.toml").expanduser()
    try:
        profiles = tomllib.loads(path.read_text())
    except (OSError, ValueError):
        return None
    active = environ.get("PREFECT_PROFILE") or profiles.get("active") or "ephemeral"
    return (profiles.get("profiles", {}).get(active) or {}).get("PREFECT_API_URL") or None


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return fields[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): the signal said it exists


def _read(home: Path) -> DevServer | None:
    try:
        return DevServer(**json.loads(state_path(home).read_text()))
    except (OSError, ValueError, TypeError):
        return None
