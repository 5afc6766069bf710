"""Screenshots of the Prefect UI showing the pipeline's runs, a quality artifact and the grid.

Usage (with a Prefect server running and some runs done, e.g. after the e2e test or
`make e2e-demo`):

    PREFECT_API_URL=http://127.0.0.1:4200/api python scripts/ui_screenshots.py --out docs

Needs Debian's Chromium (`apt-get install chromium`); it is run headless with the
network-free flags this machine needs, and waits for the single-page app to render.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1600,1000",
    "--run-all-compositor-stages-before-draw",
    "--virtual-time-budget=60000",
]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("chromium not found: apt-get install chromium")


def screenshot(url: str, out: Path) -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={out}", url],
            check=True,
            capture_output=True,
            timeout=120,
        )
    print(f"wrote {out} ({url})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-url", default=os.environ.get("PREFECT_API_URL", "http://127.0.0.1:4200/api"))
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--grid", help="id of the partition-status artifact version to show (default: none)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    ui = args.api_url.rstrip("/").removesuffix("/api")

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState, FlowRunFilterStateType
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.settings import PREFECT_API_URL, temporary_settings

    completed = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.COMPLETED])))
    with temporary_settings({PREFECT_API_URL: args.api_url}), get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=completed, sort=FlowRunSort.END_TIME_DESC, limit=200)
    screenshot(f"{ui}/runs", args.out / "ui-runs.png")
    # the run with the most to show: a landed file's run, else a daily or backfill run
    ranked = sorted(
        runs, key=lambda r: ("landed_key" in (r.parameters or {}), "start" in (r.parameters or {})), reverse=True
    )
    if ranked:
        screenshot(f"{ui}/runs/flow-run/{ranked[0].id}", args.out / "ui-flow-run.png")
    screenshot(f"{ui}/artifacts/key/quality-2026-03-03", args.out / "ui-quality-artifact.png")
    if args.grid:
        screenshot(f"{ui}/artifacts/artifact/{args.grid}", args.out / "ui-partition-grid.png")


if __name__ == "__main__":
    main()
