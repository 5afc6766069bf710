"""A grid naming hostile files, as a real browser gets it from both Prefect UIs (V2 and V1,
each at its own address): headless Chromium renders the ``partition-status`` markdown the pipeline
writes, and the DOM holds no image from a name and no link but the run's. The same names
unescaped, in a second artifact, show that the check sees an image when there is one."""

from __future__ import annotations

import datetime as dt
import os
import re

import pytest

from revenue.grid import GridContext, RunLink, render_markdown
from revenue.status import PartitionStatus
from testkit.services import live_prefect_server
from tests.e2e.test_deployments import chromium_dom

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DAY = dt.date(2026, 3, 4)
NAMES = [
    "<img src=https://evil.example/a.png onerror=alert(1)>.csv",
    "![t](https://evil.example/b.png).csv",
    "a](javascript:alert(1)).csv",
]
EVIL_IMAGE = re.compile(r"<img[^>]*src=\"?https://evil\.example", re.IGNORECASE)
SCRIPT_LINK = re.compile(r"href=\"?javascript:", re.IGNORECASE)


def _artifact(api: str, key: str, markdown: str):
    """Create a markdown artifact on the live server through its API only: not with
    ``create_markdown_artifact``, which emits an event through the process's one events
    worker, binding it to this server's address for every later test in this process
    (whose task runs then never reach their own server)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import ArtifactCreate
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api}), get_client(sync_client=True) as client:
        return client.create_artifact(ArtifactCreate(key=key, type="markdown", data=markdown))


UIS = {"v1": "", "v2": "/v2"}
"""Where each UI serves an artifact's page (the server sends only ``/`` to the default one)."""


def test_a_browser_shows_hostile_names_in_the_grid_as_text_in_both_uis(tmp_path):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "REVENUE_", "AWS_"))}
    with live_prefect_server(tmp_path, base) as api:
        site = api.removesuffix("/api")
        run_url = f"{site}/runs/flow-run/0b7e8f0c-6c1e-4b4e-9a51-3a8f0c6d2f11"
        statuses = [
            PartitionStatus(DAY + dt.timedelta(days=i), "failed", f"landed file {name}: unreadable", run_id=f"r{i}")
            for i, name in enumerate(NAMES)
        ]
        runs = {f"r{i}": RunLink(f"landing-{name}", run_url) for i, name in enumerate(NAMES)}
        grid = render_markdown(statuses, GridContext("e2e", dt.datetime.now()), runs)
        ours = _artifact(api, "partition-status", grid)
        raw = _artifact(api, "unescaped", "\n\n".join(f"| {name} | [landing-{name}]({run_url}) |" for name in NAMES))
        pages = {}
        for ui, prefix in UIS.items():
            control = chromium_dom(f"{site}{prefix}/artifacts/artifact/{raw.id}")
            assert EVIL_IMAGE.search(control), (ui, control[-3000:])  # the check sees an image from a name
            pages[ui] = chromium_dom(f"{site}{prefix}/artifacts/artifact/{ours.id}")
    for ui, page in pages.items():
        assert "landed file" in page and "🟥 failed" in page, (ui, page[-3000:])
        assert not EVIL_IMAGE.search(page) and not SCRIPT_LINK.search(page), (ui, page[-5000:])
        shown = re.sub(r"<[^>]+>", "", page)  # the text of the page
        name = "landing-&lt;img src=https://evil.example/a.png onerror=alert(1)&gt;.csv"
        assert name in shown, (ui, page[-5000:])
        assert page.count(f'href="{run_url}"') == len(NAMES), (ui, page[-5000:])  # every run link kept its address
