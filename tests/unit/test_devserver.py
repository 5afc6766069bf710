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


# --------------------------------------------------------------------------- protection


def test_the_auth_string_is_random_per_home_private_and_stable(tmp_path: Path):
    first = devserver.auth_string(tmp_path / "a")
    assert devserver.auth_string(tmp_path / "a") == first  # a restart keeps it: the browser stays logged in
    assert devserver.auth_string(tmp_path / "b") != first
    user, _, password = first.partition(":")
    assert user and len(password) >= 32
    path = devserver.auth_path(tmp_path / "a")
    assert path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o644)  # loosened by hand: tightened again before it is used
    assert devserver.auth_string(tmp_path / "a") == first and path.stat().st_mode & 0o777 == 0o600
    devserver.record(tmp_path / "a", _server(os.getpid()))
    assert password not in devserver.state_path(tmp_path / "a").read_text()


def test_commands_using_the_dev_server_get_its_auth_string(tmp_path: Path):
    devserver.record(tmp_path, _server(os.getpid()))
    secret = devserver.auth_string(tmp_path)
    environ = {"PREFECT_HOME": str(tmp_path)}
    assert devserver.use_running_server(tmp_path, environ) is not None
    assert environ["PREFECT_API_AUTH_STRING"] == secret
    by_hand = {"PREFECT_API_URL": "http://prefect.internal/api"}  # another server: not given the dev secret
    devserver.use_running_server(tmp_path, by_hand)
    assert "PREFECT_API_AUTH_STRING" not in by_hand


def test_the_listener_of_a_port_is_known_by_its_owner(tmp_path: Path):
    import socket

    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        assert devserver.listener_uid(port) == os.getuid()
    assert devserver.listener_uid(port) is None
    table = tmp_path / "tcp"
    table.write_text(
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 0100007F:1068 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1234        0 1 1\n"
        "   1: 0100007F:1069 0100007F:9999 01 00000000:00000000 00:00000000 00000000  4321        0 2 1\n"
    )
    assert devserver.listener_uid(4200, table) == 1234
    assert devserver.listener_uid(4201, table) is None  # a connection, not a listener


def test_commands_refuse_a_dev_port_held_by_another_user(tmp_path: Path, monkeypatch):
    devserver.record(tmp_path, _server(os.getpid()))
    devserver.auth_string(tmp_path)
    monkeypatch.setattr(devserver, "listener_uid", lambda port, table=None: os.getuid() + 1)
    environ = {"PREFECT_HOME": str(tmp_path)}
    try:
        devserver.use_running_server(tmp_path, environ)
    except devserver.DevServerError as error:
        assert "4300" in str(error) and "another user" in str(error)
    else:
        raise AssertionError("the credentials would be sent to another user's listener")
    assert "PREFECT_API_AUTH_STRING" not in environ and "PREFECT_API_URL" not in environ


class _FakeApi:
    """An HTTP server on loopback: ``/api/health`` answers; other paths answer ``status(auth)``."""

    def __init__(self, status) -> None:
        import http.server
        import threading

        decide = status

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                code = 200 if self.path == "/api/health" else decide(self.headers.get("Authorization"))
                body = b"true" if code == 200 else b'{"exception_message": "Unauthorized"}'
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET  # noqa: N815

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.api = f"http://127.0.0.1:{self.port}/api"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_server_verifies_only_when_it_demands_the_recorded_auth_string():
    import base64

    secret = "revenue:" + "s" * 40
    good = "Basic " + base64.b64encode(secret.encode()).decode()
    from cli import dev

    protected = _FakeApi(lambda auth: 200 if auth == good else 401)
    open_door = _FakeApi(lambda auth: 200)
    other = _FakeApi(lambda auth: 401)
    try:
        assert dev.server_verifies(protected.api, secret)
        assert not dev.server_verifies(open_door.api, secret)  # answers anyone: not the one we protected
        assert not dev.server_verifies(other.api, secret)  # another secret
    finally:
        for server in (protected, open_door, other):
            server.close()


def test_revenue_dev_refuses_a_listener_it_did_not_start(tmp_path: Path):
    """A server answering ``/api/health`` on the port that no ``revenue dev`` recorded (or
    whose recorded auth does not verify) is not adopted: the blocks would go to it."""
    import signal

    import pytest

    from cli import dev

    stranger = _FakeApi(lambda auth: 200)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    try:
        options = dev.DevOptions(port=stranger.port, env="local", home=tmp_path / "local", state_home=tmp_path)
        with pytest.raises(dev.DevError, match=rf"port {stranger.port}.*did not start"):
            dev.run_dev(options)
    finally:
        stranger.close()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert not devserver.state_path(tmp_path).exists()


def test_a_temporary_server_gets_a_random_auth_string_only_when_no_api_is_configured():
    from cli.temporary_server import protect_temporary_server

    first: dict[str, str] = {}
    assert protect_temporary_server(first)
    assert first["PREFECT_SERVER_API_AUTH_STRING"] == first["PREFECT_API_AUTH_STRING"]
    second: dict[str, str] = {}
    protect_temporary_server(second)
    assert second["PREFECT_API_AUTH_STRING"] != first["PREFECT_API_AUTH_STRING"]
    configured = {"PREFECT_API_URL": "http://prefect.internal/api"}
    assert not protect_temporary_server(configured) and configured == {"PREFECT_API_URL": "http://prefect.internal/api"}


def test_the_temporary_servers_auth_string_lives_as_long_as_the_command(monkeypatch, tmp_path):
    """The CLI sets it for its command only: ``main()`` called in-process (a test, a
    notebook) leaves the process's environment as it found it."""
    from cli import commands, main

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("PREFECT_API_AUTH_STRING", raising=False)
    monkeypatch.delenv("PREFECT_SERVER_API_AUTH_STRING", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))  # no profile names a server
    seen = {}

    def status(args):
        seen["during"] = os.environ.get("PREFECT_API_AUTH_STRING")
        return 0

    monkeypatch.setattr(commands, "status", status)
    monkeypatch.setattr(main, "DEFAULT_HOME", tmp_path / ".revenue")
    assert main.main(["status", "--env", "prod"]) == 0
    assert (seen["during"] or "").startswith("revenue:")
    assert "PREFECT_API_AUTH_STRING" not in os.environ and "PREFECT_SERVER_API_AUTH_STRING" not in os.environ
