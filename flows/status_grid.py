"""The live ``partition-status`` artifact: every run that computes partitions refreshes it
when it starts (its days show as running) and when it ends (whatever the end), so its
latest version is the current state of the grid (``revenue.grid``): the environment's last
``status_weeks`` weeks, the days the run touched and every failed day.

The landing watcher redraws it too, when a day changed state without a run (a source edit
makes a day stale) and at least every ``GRID_REDRAW_EVERY``. Refreshing is best effort: a
grid that cannot be drawn is a warning in the log, never the reason a run fails.
"""

from __future__ import annotations

import datetime as dt
import logging
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run

from revenue import catalog
from revenue.grid import GridContext, RunLink, attention, counts, render_markdown
from revenue.io.activity import LANDING_WATCHER, last_beat
from revenue.io.environment import Environment, environment
from revenue.io.partition_input import PartitionInput
from revenue.status import PartitionStatus, current_statuses, grid_days
from revenue.untrusted import markdown_text

ARTIFACT_KEY = "partition-status"


def lineage(env: Environment) -> str:
    """The catalog's lineage (``revenue.catalog.lineage``: each stored dataset -> those made
    from it), with the asset keys Prefect records for each dataset at its first mention:
    ``orders`` (+ landed files) -> ``cleaned_orders``, ``rejected_orders``; ``cleaned_orders``
    -> ``daily_revenue``, ``customer_daily_spend``."""
    shown: set[str] = set()

    def named(dataset: str) -> str:
        if dataset in shown:
            return f"`{dataset}`"
        shown.add(dataset)
        keys = ", ".join(markdown_text(key) for key in env.asset_keys(dataset))
        landed = ""
        if dataset == catalog.ORDERS.name and env.landing is not None:
            landed = f" + landed files ({markdown_text(env.landing.uri())})"
        return f"`{dataset}` ({keys}){landed}"

    return "; ".join(
        f"{named(upstream)} → {', '.join(named(d) for d in downstream)}" for upstream, downstream in catalog.lineage()
    )


def run_links(run_ids: Iterable[str | None]) -> dict[str, RunLink]:
    """Flow run names and UI addresses for the grid's lines (one API call)."""
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.settings import get_current_settings

    ui = (get_current_settings().ui_url or "").rstrip("/")
    links: dict[str, RunLink] = {}
    if flow_run.id and flow_run.name:  # this run: known without asking the API
        links[str(flow_run.id)] = RunLink(flow_run.name, f"{ui}/runs/flow-run/{flow_run.id}")
    ids = []
    for run_id in {r for r in run_ids if r} - set(links):
        try:
            ids.append(UUID(run_id))
        except ValueError:
            continue
    if ids:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)), limit=len(ids))
        links.update({str(r.id): RunLink(r.name, f"{ui}/runs/flow-run/{r.id}") for r in runs})
    return links


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    try:
        return get_run_logger()
    except Exception:  # outside a run (the landing watcher)
        return logging.getLogger("revenue.grid")


def _write(config: str, env: Environment, statuses: list[PartitionStatus]) -> None:
    context = GridContext(
        environment=config,
        updated_at=dt.datetime.now(dt.timezone.utc),
        updated_by=flow_run.name or "landing watcher",
        landing_checked_at=last_beat(env.warehouse, LANDING_WATCHER) if env.landing is not None else None,
        lineage=lineage(env),
    )
    try:
        links = run_links(s.run_id for s in attention(statuses))
    except Exception as error:  # names are a nicety: the ids still say which run
        _logger().warning("partition grid: could not read flow run names: %s", error)
        links = {}
    tally = counts(statuses)
    with warnings.catch_warnings():
        # the watcher writes it outside any run: Prefect 3.9 warns that this is deprecated
        # (it still works; if a release drops it, the watcher's redraw is the part to move)
        warnings.filterwarnings("ignore", message="Artifact creation outside of a flow or task run")
        create_markdown_artifact(
            key=ARTIFACT_KEY,
            markdown=render_markdown(statuses, context, links),
            description=f"{markdown_text(config)}: " + ", ".join(f"{n} {state}" for state, n in tally.items() if n),
        )


def refresh_partition_grid(
    config: str, touched: Iterable[dt.date], running: Iterable[dt.date] = (), known: Iterable[PartitionInput] = ()
) -> None:
    """Write the grid's new version: the window plus ``touched``; ``running``: the days
    this run is about to compute; ``known``: inputs the run planned and still holds (their
    days are not fingerprinted again: on a 1M-order day that is a second of source reads)."""
    touched, running = list(touched), list(running)
    try:
        env = environment(config)
        run_id = str(flow_run.id) if flow_run.id else None
        days = grid_days(env, [*touched, *running])
        _write(config, env, current_statuses(env, days, running, run_id, known=known))
    except Exception as error:
        _logger().warning("could not refresh the partition-status grid: %s", error)


@dataclass(frozen=True)
class DrawnGrid:
    statuses: tuple[PartitionStatus, ...]
    at: dt.datetime


def redraw_if_changed(
    config: str, last: DrawnGrid | None, every: dt.timedelta, statuses: list[PartitionStatus] | None = None
) -> DrawnGrid | None:
    """The landing watcher's refresh: a new version when a day's state changed without a
    run (a source edit makes a day stale) or ``every`` has passed (so "landing zone last
    checked" stays recent); else nothing is written. ``statuses``: the grid's days, when
    the caller has them."""
    try:
        env = environment(config)
        if statuses is None:
            statuses = current_statuses(env, grid_days(env))
        now = dt.datetime.now(dt.timezone.utc)
        if last is not None and last.statuses == tuple(statuses) and now - last.at < every:
            return last
        _write(config, env, statuses)
        return DrawnGrid(tuple(statuses), now)
    except Exception as error:
        _logger().warning("could not refresh the partition-status grid: %s", error)
        return last
