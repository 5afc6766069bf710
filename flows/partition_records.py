"""What a partition's task run leaves in Prefect besides its result: one quality artifact
(``quality-YYYY-MM-DD``: each stage's rows, time and gate outcome, then every gate's
expectations) and the asset events of what it published, with their lineage (each dataset's
stored upstream in ``revenue.catalog``: orders -> cleaned_orders -> daily_revenue,
customer_daily_spend). Dataset names, lineage and asset keys come from the catalog."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING

from prefect.artifacts import create_markdown_artifact

from revenue import catalog, stages
from revenue.io.asset_keys import asset_key
from revenue.quality.gate import GateResult
from revenue.quality.render import StageLine, partition_artifact_key, quality_description, render_partition
from revenue.stages import PartitionOutcome

if TYPE_CHECKING:
    from revenue.io.environment import Environment


def _stage_lines(
    computed: stages.Computed | None, results: list[GateResult], timings: stages.Timings
) -> list[StageLine]:
    """The partition's stages as the quality artifact shows them (what ran so far)."""
    gates = {r.dataset: r.status for r in results}
    lines = [
        StageLine(
            catalog.RAW_ORDERS.name,
            f"{computed.raw.rows:,}" if computed else "",
            timings.dataset_ms("extract", catalog.RAW_ORDERS.name),
            gates.get(catalog.RAW_ORDERS.name, "not run"),
        )
    ]
    if catalog.CLEANED_ORDERS.name in gates or computed:
        rows = f"{len(computed.cleaned.cleaned):,} ({len(computed.cleaned.rejected):,} rejected)" if computed else ""
        lines.append(
            StageLine(
                catalog.CLEANED_ORDERS.name,
                rows,
                timings.dataset_ms("clean", catalog.CLEANED_ORDERS.name),
                gates[catalog.CLEANED_ORDERS.name],
            )
        )
    if catalog.DAILY_REVENUE.name in gates:
        lines.append(
            StageLine(
                catalog.DAILY_REVENUE.name,
                "1" if computed else "",
                timings.dataset_ms("aggregate", catalog.DAILY_REVENUE.name),
                gates[catalog.DAILY_REVENUE.name],
            )
        )
    if computed:
        lines.append(
            StageLine(
                catalog.CUSTOMER_DAILY_SPEND.name,
                f"{len(computed.totals.spend):,}",
                None,
                "reconciled with daily_revenue",
            )
        )
    return lines


def quality_artifact(
    partition: dt.date,
    headline: str,
    computed: stages.Computed | None,
    results: list[GateResult],
    timings: stages.Timings,
) -> None:
    create_markdown_artifact(
        key=partition_artifact_key(partition),
        markdown=render_partition(partition, headline, _stage_lines(computed, results, timings), results),
        description=quality_description(partition, headline),
    )


def emit_asset_events(env: Environment, computed: stages.Computed, outcome: PartitionOutcome) -> None:
    """The partition's materializations, each with the assets it was made from (the
    catalog's upstream), so a lineage graph reads orders -> cleaned_orders -> daily_revenue,
    customer_daily_spend; the inputs read are referenced first."""
    from prefect.events import emit_event

    def related(keys: list[str]) -> list[dict[str, str]]:
        return [{"prefect.resource.id": key, "prefect.resource.role": "asset"} for key in keys]

    day = computed.input.partition.isoformat()
    landed = landed_file_assets(f.uri for f in computed.input.files)

    def keys(dataset: str) -> list[str]:
        """The dataset's asset keys; the orders' include the landed files the day read."""
        return [*env.asset_keys(dataset), *(landed if dataset == catalog.ORDERS.name else ())]

    rows = {dataset: len(frame) for dataset, frame in computed.stored_frames().items()}
    read = {upstream for dataset in rows for upstream in catalog.stored_upstream(dataset)} - set(rows)
    for key in (k for dataset in catalog.CATALOG if dataset.name in read for k in keys(dataset.name)):
        emit_event(event="prefect.asset.referenced", resource={"prefect.resource.id": key})
    for dataset, count in rows.items():
        upstream = [k for parent in catalog.stored_upstream(dataset) for k in keys(parent)]
        for key in env.asset_keys(dataset):
            emit_event(
                event="prefect.asset.materialization.succeeded",
                resource=asset_resource(key, dataset),
                related=related(upstream),
                payload={"partition": day, "fingerprint": outcome.fingerprint, "rows": count},
            )


def landed_file_assets(uris: Iterable[str]) -> list[str]:
    """The asset keys of the landed files a partition read (their URIs made valid keys)."""
    return [asset_key(uri) for uri in uris]


def asset_resource(key: str, dataset: str) -> dict[str, str]:
    """The resource of a dataset's materialization: named after the dataset alone, so the
    asset keeps one name; the day is in the event's payload."""
    return {"prefect.resource.id": key, "prefect.resource.name": dataset}
