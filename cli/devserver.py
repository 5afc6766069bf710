"""Where a running ``revenue dev`` is, and the secret that opens its API, so every
``revenue`` command of the project finds its Prefect server by itself: no variable to
export, no temporary server started.

``revenue dev`` writes ``<REVENUE_HOME>/dev.json`` (default ``.revenue/dev.json``) when its
server answers and removes it when it stops. ``use_running_server`` (called by the CLI
before it imports Prefect) points ``PREFECT_API_URL`` at that server, and gives
``PREFECT_API_AUTH_STRING`` its auth string, when no API is configured otherwise, the
``revenue dev`` process that wrote the file is still alive, and the port is not held by
another user's listener (credentials are never sent to a process this user does not own).

The dev server's API demands basic auth (``PREFECT_SERVER_API_AUTH_STRING``): the auth
string ``revenue:<random>`` is made once per revenue home, in ``<REVENUE_HOME>/dev-auth``
(mode 0600, never printed), so a restart keeps a browser that logged in logged in.
Reading all this costs a few file reads and a signal-0 ``kill``; nothing here imports
Prefect.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import MutableMapping
from dataclasses import asdict, dataclass
from pathlib import Path

STATE_FILE = "dev.json"
AUTH_FILE = "dev-auth"
AUTH_USER = "revenue"


class DevServerError(RuntimeError):
    """The recorded ``revenue dev`` server cannot be used safely: one line for the terminal."""


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
    """Point ``PREFECT_API_URL`` at a running ``revenue dev`` server, with its auth string
    in ``PREFECT_API_AUTH_STRING``, unless an API is already configured: by the variable,
    or by the active Prefect profile (read from its file, so Prefect is not imported).
    Raises ``DevServerError`` when another user's process listens on the recorded port."""
    if environ.get("PREFECT_API_URL") or profile_api_url(environ):
        return None
    found = running(home)
    if found is None:
        return None
    port = port_of(found.api_url)
    owner = listener_uid(port)
    if owner is not None and owner != os.getuid():
        raise DevServerError(
            f"port {port} of the revenue dev recorded in {state_path(home)} is held by another user's "
            "process: not sending it credentials. Stop revenue dev and start it again"
        )
    environ["PREFECT_API_URL"] = found.api_url
    if auth_path(home).is_file():  # (one set for another server would be refused by this one)
        environ["PREFECT_API_AUTH_STRING"] = auth_string(home)
    return found


def auth_path(home: Path) -> Path:
    return home / AUTH_FILE


def auth_string(home: Path) -> str:
    """The dev server's auth string (``revenue:<random>``), made on first use, in a file
    only this user can read (its mode is tightened to 0600 if it was loosened)."""
    path = auth_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_uid != os.getuid():
            raise DevServerError(f"{path} belongs to another user: remove it") from None
        path.chmod(0o600)
        value = path.read_text().strip()
        if value.startswith(f"{AUTH_USER}:") and len(value) > len(AUTH_USER) + 32:
            return value
        path.unlink()  # empty or malformed (an interrupted first write): made again
        return auth_string(home)
    value = f"{AUTH_USER}:{secrets.token_urlsafe(32)}"
    with os.fdopen(descriptor, "w") as file:
        file.write(value + "\n")
    return value


def port_of(api_url: str) -> int:
    """The TCP port of ``http://127.0.0.1:PORT/api``."""
    from urllib.parse import urlparse

    return urlparse(api_url).port or 80


def listener_uid(port: int, table: Path | None = None) -> int | None:
    """The uid owning the socket that listens on loopback (or any address) ``port``, from
    ``/proc/net/tcp``; None when nothing listens there or there is no ``/proc`` (macOS)."""
    try:
        lines = (table or Path("/proc/net/tcp")).read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) < 8 or fields[3] != "0A":  # 0A: LISTEN
            continue
        address, _, hex_port = fields[1].partition(":")
        if int(hex_port, 16) == port and address in ("0100007F", "00000000"):
            return int(fields[7])
    return None


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
