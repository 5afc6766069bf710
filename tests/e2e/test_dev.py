"""End to end: ``revenue dev`` as a new user runs it from a clone, on a free port: the UI and
API answer (to its own pages and processes only: a page from another origin without the
auth string reads no secret block), every deployment is served, the demo week is published, a CSV dropped into the
landing directory becomes a completed run, other commands find the server by themselves, a
second ``revenue dev`` starts nothing, and Ctrl-C (SIGINT to its process group, as a terminal
sends it) during a forced backfill leaves no process behind and no run ``Running``: after a
restart, no day of it shows running in the grid or in ``revenue status`` within 90 s."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from testkit.landing_path import DevStack, land_and_time, split_line
from testkit.services import ctrl_c, free_port
from tests.e2e.test_deployments import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _revenue(environ: dict[str, str], timeout: float, *args: str) -> subprocess.CompletedProcess[str]:
    """A ``revenue`` command run from the clone as a user runs it, its output captured."""
    return subprocess.run(
        [str(BIN / "revenue"), *args], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=timeout
    )


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except OSError:
        return 0, ""


def _processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line or environment holds ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            blob = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:
            continue
        if text.encode() in blob:
            found.append(int(entry.name))
    return found


def _published(warehouse: Path) -> dict[str, tuple[float, int]]:
    if not warehouse.exists():
        return {}
    connection = sqlite3.connect(warehouse)
    try:
        rows = connection.execute("SELECT order_date, revenue, order_count FROM daily_revenue").fetchall()
    except sqlite3.OperationalError:
        return {}
    finally:
        connection.close()
    return {str(day)[:10]: (float(revenue), int(count)) for day, revenue, count in rows}


def _client_settings(api_url: str, home: Path) -> dict:
    """Prefect client settings for the dev server of ``home``: its API and its auth string."""
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL

    return {PREFECT_API_URL: api_url, PREFECT_API_AUTH_STRING: (home / "dev-auth").read_text().strip()}


def _flow_runs(api_url: str, deployment: str, home: Path) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId
    from prefect.settings import temporary_settings

    with temporary_settings(_client_settings(api_url, home)), get_client(sync_client=True) as client:
        found = client.read_deployment_by_name(deployment)
        return client.read_flow_runs(
            flow_run_filter=FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[found.id]))
        )


def _marks(warehouse: Path) -> list[tuple[str, str]]:
    """(day, run id) of each running mark in the embedded warehouse."""
    connection = sqlite3.connect(warehouse)
    try:
        return [(str(d)[:10], r) for d, r in connection.execute("SELECT partition_date, run_id FROM partition_runs")]
    except sqlite3.OperationalError:
        return []
    finally:
        connection.close()


def _start_dev(tmp_path: Path, environ: dict[str, str], port: int, log_name: str) -> subprocess.Popen:
    """``revenue dev`` in its own process group, as a terminal runs it in the foreground."""
    with open(tmp_path / log_name, "w") as output:
        return subprocess.Popen(
            [str(BIN / "revenue"), "dev", "--port", str(port), "--interval", "1"],
            cwd=ROOT,
            env=environ,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _latest_grid(api_url: str, home: Path) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort
    from prefect.settings import temporary_settings

    with temporary_settings(_client_settings(api_url, home)), get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["partition-status"])),
            sort=ArtifactSort.CREATED_DESC,
            limit=1,
        )
    return found[0].data if found else ""


@pytest.mark.timeout(1200)
def test_revenue_dev_runs_the_whole_system_and_stops_cleanly(tmp_path: Path, record_property):
    port = free_port()
    home = tmp_path / ".revenue"
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "REVENUE_", "AWS_"))},
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "REVENUE_HOME": str(home),
        "PREFECT_HOME": str(tmp_path / "user-prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "REVENUE_ALERT_WEBHOOK_URL": WEBHOOK,  # a secret block the API must not hand out
    }
    dev = _start_dev(tmp_path, environ, port, "dev.out")
    ui, api = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}/api"
    log = lambda: (tmp_path / "dev.out").read_text()[-5000:]  # noqa: E731
    try:
        wait_for(lambda: "Ctrl-C stops everything" in log() or dev.poll() is not None, 240, "revenue dev to start")
        assert dev.poll() is None, log()
        state = json.loads((home / "dev.json").read_text())
        assert state["api_url"] == api and state["dev_pid"] == dev.pid and state["server_pid"]
        secret = _assert_closed_to_other_pages(home, ui, api, (tmp_path / "dev.out").read_text())

        # the UI and the API answer on this port, and the UI talks to this port's API
        assert _get(f"{api}/health")[0] == 200
        status, page = _get(ui)
        assert status == 200 and "<html" in page.lower()
        assert json.loads(_get(f"{ui}/ui-settings")[1])["api_url"] == api

        # every deployment of prefect.yaml is served, with its schedule and trigger
        from prefect.client.orchestration import get_client
        from prefect.settings import temporary_settings

        with temporary_settings(_client_settings(api, home)), get_client(sync_client=True) as client:

            def registered():  # the banner comes before `serve` has registered them
                try:
                    return client.read_deployment_by_name("backfill/range")
                except Exception:  # noqa: BLE001 - not yet
                    return None

            wait_for(registered, 60, "the deployments to be registered", 0.5)
            daily = client.read_deployment_by_name("daily-revenue/daily")
            assert daily.schedules[0].schedule.cron == "0 6 * * *"
            landing = client.read_deployment_by_name("daily-revenue/on-landing")
            client.read_deployment_by_name("backfill/range")
            automations = wait_for(
                lambda: client.read_automations_by_name("on-landing__automation_1"),
                60,
                "the landing trigger's automation",
                0.5,
            )
            assert automations[0].trigger.match.model_dump() == {"revenue.environment": "local"}
            assert daily.work_pool_name is None and landing.work_pool_name is None  # served: no pool

        # the demo week is published through the range deployment
        today = dt.datetime.now(dt.timezone.utc).date()
        week = [(today - dt.timedelta(days=n)).isoformat() for n in range(7, 0, -1)]
        warehouse = home / "local" / "warehouse.db"
        wait_for(lambda: all(day in _published(warehouse) for day in week), 300, "the demo week to be published", 2)
        [week_run] = [r for r in _flow_runs(api, "backfill/range", home) if "heal" not in r.tags]
        assert week_run.parameters["start"] == week[0] and week_run.parameters["end"] == week[-1]

        # healing is on in revenue dev: the older demo days, never published, are caught up by one run
        older = [(today - dt.timedelta(days=n)).isoformat() for n in range(28, 7, -1)]
        wait_for(lambda: all(day in _published(warehouse) for day in older), 300, "the older demo days to heal", 2)
        heals = [r for r in _flow_runs(api, "backfill/range", home) if "heal" in r.tags]
        assert [r.name for r in heals] == [f"heal-{older[0]}..{older[-1]}"], [r.name for r in heals]

        # a second `revenue dev` finds the first and starts nothing
        again = _revenue(environ, 60, "dev", "--port", str(free_port()))
        assert again.returncode == 0 and f"already running (pid {dev.pid})" in again.stdout, again.stdout + again.stderr

        # other commands use the dev server by themselves (no temporary server)
        ran = _revenue(environ, 300, "run", "--date", week[-1], "--force")
        assert ran.returncode == 0, ran.stderr[-3000:]
        assert "temporary server" not in ran.stderr.lower() and f"{week[-1]}: published" in ran.stdout
        assert secret not in ran.stdout + ran.stderr
        with temporary_settings(_client_settings(api, home)), get_client(sync_client=True) as client:
            assert any(r.name == f"daily-revenue-{week[-1]}" for r in client.read_flow_runs())

        # a CSV dropped into the landing directory becomes a completed on-landing run, its run
        # started warm (forked from the process that imported the pipeline); the path is
        # timed part by part and reported (`make test` prints it), not asserted on
        landed_day = today - dt.timedelta(days=40)
        landed = land_and_time(
            DevStack(tmp_path, port, environ, dev),
            "late-orders.csv",
            "order_id,customer_id,amount,order_date\n"
            f"990001,late-1,12.50,{landed_day}T10:00:00Z\n"
            f"990002,late-2,7.25,{landed_day}T11:00:00Z\n",
            landed_day,
        )
        record_property("landing path", f"revenue dev, one file of 2 orders: {split_line(landed)}")
        assert landed["final_state"] == "COMPLETED"
        assert landed["run"] == "landing-late-orders.csv"
        assert _published(warehouse)[landed_day.isoformat()] == (19.75, 2)
        server_pid = state["server_pid"]

        # a forced backfill through the range deployment, and Ctrl-C while it computes
        from prefect.deployments import run_deployment

        demo = [(today - dt.timedelta(days=n)).isoformat() for n in range(28, 0, -1)]
        with temporary_settings(_client_settings(api, home)):
            backfill_run = run_deployment(
                "backfill/range", parameters={"start": demo[0], "end": demo[-1], "force": True}, timeout=0
            )
        wait_for(
            lambda: any(run_id == str(backfill_run.id) for _, run_id in _marks(warehouse)),
            180,
            "the forced backfill to compute a day",
            0.2,
        )
        os.killpg(dev.pid, signal.SIGINT)  # what Ctrl-C in its terminal sends
    finally:
        if dev.poll() is None:
            dev.send_signal(signal.SIGINT)
        try:
            dev.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(dev.pid, signal.SIGKILL)
            raise

    # SIGINT stopped everything it started
    assert dev.returncode == 0, log()
    assert "revenue dev: stopped" in log()
    assert secret not in (tmp_path / "dev.out").read_text() and secret not in (home / "dev-server.log").read_text()
    assert "Created a new engine" not in (tmp_path / "dev.out").read_text()  # not in the served runs' logs either
    assert not (home / "dev.json").exists()
    wait_for(lambda: not _processes_mentioning(str(home)), 30, "every process revenue dev started to exit")
    assert not Path(f"/proc/{server_pid}").exists() or "Z" in Path(f"/proc/{server_pid}/stat").read_text().split()[2]

    # started again: the interrupted run is not Running, and within 90 s no day shows running
    again = _start_dev(tmp_path, environ, port, "dev-again.out")
    log = lambda: (tmp_path / "dev-again.out").read_text()[-5000:]  # noqa: E731
    try:
        wait_for(lambda: "Ctrl-C stops everything" in log() or again.poll() is not None, 240, "revenue dev to restart")
        assert again.poll() is None, log()
        restarted = time.monotonic()
        [interrupted] = [r for r in _flow_runs(api, "backfill/range", home) if r.id == backfill_run.id]
        assert interrupted.state.type.value == "CANCELLED", (interrupted.state.type, interrupted.state.message)

        def status_text() -> str:
            ran = _revenue(environ, 120, "status", "--start", demo[0], "--end", demo[-1])
            assert ran.returncode == 0, ran.stderr[-3000:]
            return ran.stdout

        def nothing_running_in_status() -> bool:
            return "> running 0" in status_text()

        def nothing_running_in_grid() -> bool:
            return "🔵 running **0**" in _latest_grid(api, home)

        wait_for(nothing_running_in_status, 90, "revenue status to show no day running", 2)
        wait_for(nothing_running_in_grid, max(5, 90 - (time.monotonic() - restarted)), "the grid: no day running", 2)
        took = time.monotonic() - restarted
        assert took < 90, took
    finally:
        ctrl_c(again)
    assert again.returncode == 0 and "revenue dev: stopped" in log(), log()


def _request(url: str, method: str = "GET", body: bytes | None = None, headers: dict[str, str] | None = None):
    """(status, lower-cased headers, body); an HTTP error status is an answer too."""
    import urllib.error

    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read().decode()


WEBHOOK = "http://127.0.0.1:9/hooks/T0KEN-NeverShow-e2e"


def _assert_closed_to_other_pages(home: Path, ui: str, api: str, banner: str) -> str:
    """A page from another local origin without the auth string reads no block (the alert
    webhook's secret URL) and gets no CORS grant; the UI's origin is granted and told to log
    in; the auth string is in a 0600 file, named by the banner, never printed. Returns it."""
    secret_file = home / "dev-auth"
    secret = secret_file.read_text().strip()
    assert secret_file.stat().st_mode & 0o777 == 0o600
    assert str(secret_file) in banner and secret not in banner

    evil = "http://127.0.0.1:9999"
    query = json.dumps({"include_secrets": True}).encode()
    status, headers, body = _request(
        f"{api}/block_documents/filter", "POST", query, {"Content-Type": "application/json", "Origin": evil}
    )
    assert status in (401, 403) and "T0KEN-NeverShow" not in body, (status, body[:300])
    assert headers.get("access-control-allow-origin") not in ("*", evil), headers
    _, headers, _ = _request(
        f"{api}/block_documents/filter",
        "OPTIONS",
        headers={"Origin": evil, "Access-Control-Request-Method": "POST"},
    )
    assert headers.get("access-control-allow-origin") not in ("*", evil), headers
    _, headers, _ = _request(f"{api}/health", "OPTIONS", headers={"Origin": ui, "Access-Control-Request-Method": "GET"})
    assert headers.get("access-control-allow-origin") == ui, headers
    settings = json.loads(_request(f"{ui}/ui-settings")[2])
    assert settings["auth"] == "BASIC" and settings["csrf_enabled"] is True, settings
    return secret


def _browser_texts(ui: str, password: str, wanted: str, timeout: float = 90) -> tuple[str, str]:
    """Headless Chromium (over its DevTools protocol) opening ``{ui}/flows``: the page's
    address and text before logging in, then after the UI's login stored ``password`` the
    way its login form does (``localStorage['prefect-password']``) once ``wanted`` shows."""
    import asyncio
    import shutil
    import tempfile

    import websockets

    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    assert browser, "no Chromium: `make test` installs it (apt-get install chromium)"
    port = free_port()
    profile = tempfile.mkdtemp(prefix="revenue-ui-")
    chrome = subprocess.Popen(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--remote-debugging-port={port}",
         f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip

    def page_socket() -> str | None:
        status, body = _get(f"http://127.0.0.1:{port}/json")
        pages = [t for t in json.loads(body) if t["type"] == "page"] if status == 200 else []
        return pages[0]["webSocketDebuggerUrl"] if pages else None

    async def session(address: str) -> tuple[str, str]:
        async with websockets.connect(address, max_size=2**24) as socket:
            sent = 0

            async def call(method: str, **params):
                nonlocal sent
                sent += 1
                await socket.send(json.dumps({"id": sent, "method": method, "params": params}))
                while True:
                    message = json.loads(await socket.recv())
                    if message.get("id") == sent:
                        return message.get("result", {})

            async def text_once(url: str, needle: str) -> str:
                await call("Page.navigate", url=url)
                deadline = time.monotonic() + timeout
                text = ""
                while time.monotonic() < deadline:
                    found = await call("Runtime.evaluate", expression="location.href + '\\n' + document.body.innerText")
                    text = found.get("result", {}).get("value", "")
                    if needle in text:
                        break
                    await asyncio.sleep(1)
                return text

            before = await text_once(f"{ui}/flows", "/login")
            login = f"localStorage.setItem('prefect-password', btoa({json.dumps(password)}))"
            await call("Runtime.evaluate", expression=login)
            return before, await text_once(f"{ui}/flows", wanted)

    try:
        return asyncio.run(session(wait_for(page_socket, 60, "Chromium's DevTools endpoint", 0.2)))
    finally:
        chrome.terminate()
        chrome.wait(timeout=30)
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.timeout(600)
def test_the_dev_servers_ui_asks_for_the_auth_string_and_then_works(tmp_path: Path, monkeypatch):
    """The UI of the server `revenue dev` starts, in a real browser: before logging in it
    shows its login page; after the login with the contents of `.revenue/dev-auth` it lists
    the server's flows (a POST, so CSRF tokens work for the UI too)."""
    from cli import dev, devserver

    monkeypatch.setenv("PREFECT_UI_ENABLED", "true")  # (tests/conftest.py turns it off for every other server)
    port = free_port()
    ui, api = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}/api"
    home = tmp_path / ".revenue"
    with dev.prefect_server(port, api, home):
        secret = devserver.auth_string(home)
        client = {
            **os.environ,
            "PREFECT_API_URL": api,
            "PREFECT_API_AUTH_STRING": secret,
            "PREFECT_HOME": str(tmp_path / "client"),
        }
        made = subprocess.run(
            [sys.executable, "-c", "from prefect import flow\n@flow(name='seen-in-the-ui')\ndef f(): pass\nf()"],
            env=client,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert made.returncode == 0, made.stderr[-3000:]
        before, after = _browser_texts(ui, secret, "seen-in-the-ui")
    assert "/login" in before.splitlines()[0] and "seen-in-the-ui" not in before, before[:500]
    assert after.splitlines()[0] == f"{ui}/flows" and "seen-in-the-ui" in after, after[:500]
