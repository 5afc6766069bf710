"""How commands find a running ``revenue dev``: its state file, a live process, and a
``PREFECT_API_URL`` set by hand always winning."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cli import devserver


def _server(pid: int) -> devserver.DevServer:
    return devserver.DevServer(
        api_url="http://127.0.0.1:4300/api",
        ui_url="http://127.0.0.1:4300",
        dev_pid=pid,
        server_pid=None,
        config="local",
    )


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_live_dev_process_points_commands_at_its_server(tmp_path: Path):
    devserver.record(tmp_path, _server(os.getpid()))
    environ = {"PREFECT_HOME": str(tmp_path)}  # no profiles file: no profile names a server
    assert devserver.use_running_server(tmp_path, environ) == _server(os.getpid())
    assert environ == {"PREFECT_HOME": str(tmp_path), "PREFECT_API_URL": "http://127.0.0.1:4300/api"}


def test_an_address_set_by_hand_wins(tmp_path: Path):
    devserver.record(tmp_path, _server(os.getpid()))
    environ = {"PREFECT_API_URL": "http://prefect.internal/api"}
    assert devserver.use_running_server(tmp_path, environ) is None
    assert environ == {"PREFECT_API_URL": "http://prefect.internal/api"}


def test_a_stale_or_broken_state_file_is_ignored(tmp_path: Path):
    devserver.record(tmp_path, _server(_dead_pid()))
    environ = {"PREFECT_HOME": str(tmp_path)}
    assert devserver.use_running_server(tmp_path, environ) is None and "PREFECT_API_URL" not in environ
    devserver.state_path(tmp_path).write_text("{not json")
    assert devserver.running(tmp_path) is None
    assert devserver.running(tmp_path / "nowhere") is None


def test_forget_removes_only_its_own_file(tmp_path: Path):
    devserver.record(tmp_path, _server(os.getpid()))
    devserver.forget(tmp_path, os.getpid() + 1)
    assert devserver.state_path(tmp_path).exists()
    devserver.forget(tmp_path, os.getpid())
    assert not devserver.state_path(tmp_path).exists()


def test_a_server_left_behind_by_a_killed_dev_is_found_to_be_adopted(tmp_path: Path):
    killed = devserver.DevServer(
        api_url="http://127.0.0.1:4300/api",
        ui_url="http://127.0.0.1:4300",
        dev_pid=_dead_pid(),
        server_pid=os.getpid(),
        config="local",
    )
    devserver.record(tmp_path, killed)
    assert devserver.running(tmp_path) is None
    assert devserver.left_behind(tmp_path) == killed
    devserver.record(tmp_path, _server(os.getpid()))  # alive: not left behind
    assert devserver.left_behind(tmp_path) is None


def test_a_prefect_profile_naming_a_server_wins_over_a_running_dev(tmp_path: Path):
    devserver.record(tmp_path, _server(os.getpid()))
    (tmp_path / "profiles.toml").write_text(
        'active = "prod"\n[profiles.prod]\nPREFECT_API_URL = "http://prefect.internal/api"\n[profiles.ephemeral]\n'
    )
    environ = {"PREFECT_HOME": str(tmp_path)}
    assert devserver.profile_api_url(environ) == "http://prefect.internal/api"
    assert devserver.use_running_server(tmp_path, environ) is None and "PREFECT_API_URL" not in environ
    environ["PREFECT_PROFILE"] = "ephemeral"  # a profile without a server: the dev server is used
    assert devserver.use_running_server(tmp_path, environ) is not None
    assert environ["PREFECT_API_URL"] == "http://127.0.0.1:4300/api"
