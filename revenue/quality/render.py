"""Gate results as markdown (for Prefect artifacts) and the artifacts' keys.

A partition's quality artifact (``quality-YYYY-MM-DD``, one version per run of that day)
holds, in this order: the outcome, a table of its stages (rows, time, gate status) and each
gate's expectations. Cells are kept short so the UI's tables fit. A headline names landed
files and values come from the data: both are escaped (``revenue.untrusted``), so they read
as text, never as markup.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from revenue.quality.gate import ExpectationOutcome, GateResult
from revenue.untrusted import markdown_code, markdown_text

_CELL_LIMIT = 120
DESCRIPTION_CHARS = 500
_STATUS_LABEL = {"passed": "passed", "failed": "FAILED", "raised": "raised"}
_STATUS_EMOJI = {"passed": "✅", "warned": "⚠️", "failed": "❌"}


def artifact_key(dataset: str) -> str:
    """The Prefect artifact key of a dataset's gate: ``quality-raw-orders`` etc.

    Only lowercase letters, digits and dashes (Prefect's rule for artifact keys).
    """
    slug = re.sub(r"[^a-z0-9]+", "-", dataset.lower()).strip("-")
    return f"quality-{slug}" if slug else "quality"


def partition_artifact_key(partition: dt.date) -> str:
    """The key of a partition's quality artifact: ``quality-2026-03-05``."""
    return f"quality-{partition.isoformat()}"


def quality_description(partition: dt.date, headline: str) -> str:
    """The quality artifact's description (markdown in the UI): the partition and its
    headline, escaped and cut to fit."""
    return f"Quality of partition {partition.isoformat()}: " + markdown_text(headline, DESCRIPTION_CHARS - 40)


@dataclass(frozen=True)
class StageLine:
    """One row of a partition's stage table (the pipeline's own words and numbers)."""

    dataset: str
    rows: str
    ms: int | None
    gate: str


def render_partition(
    partition: dt.date, headline: str, stages: Sequence[StageLine], results: Sequence[GateResult]
) -> str:
    """The partition's quality report: headline, stage table, then every gate's table."""
    status = (
        "failed"
        if any(r.status == "failed" for r in results) or headline.startswith("failed")
        else ("warned" if any(r.status == "warned" for r in results) else "passed")
    )
    lines = [
        f"# {_STATUS_EMOJI[status]} Partition {partition.isoformat()}: {_cell(headline)}",
        "",
        "| dataset | rows | time | gate |",
        "|---|---:|---:|---|",
    ]
    lines += [
        f"| {markdown_code(s.dataset)} | {s.rows} | {'' if s.ms is None else f'{s.ms} ms'} | {s.gate} |" for s in stages
    ]
    for result in results:
        lines += ["", render_markdown(result).replace("## ", "### ", 1).rstrip()]
    return "\n".join(lines) + "\n"


def render_markdown(result: GateResult) -> str:
    """A heading with dataset, partition and status, a one-line tally and a table:
    expectation | severity | status | unexpected count | sample of unexpected values."""
    blocking = len(result.blocking())
    warnings = len(result.summary()["warnings"])
    lines = [
        f"## {_STATUS_EMOJI[result.status]} Quality gate {markdown_code(result.dataset)} "
        f"· {result.partition.isoformat()} · **{result.status}**",
        "",
        f"{len(result.outcomes)} expectations evaluated: {blocking} blocking failure(s), {warnings} warning(s).",
        "",
        "| expectation | severity | status | unexpected count | sample of unexpected values |",
        "|---|---|---|---:|---|",
    ]
    lines.extend(_row(o) for o in result.outcomes)
    return "\n".join(lines) + "\n"


def _row(outcome: ExpectationOutcome) -> str:
    count = "" if outcome.unexpected_count is None else str(outcome.unexpected_count)
    if outcome.raised is not None:
        sample = f"raised: {_cell(outcome.raised)}"
    elif outcome.unexpected_sample:
        sample = ", ".join(markdown_code(v, _CELL_LIMIT) for v in outcome.unexpected_sample)
    elif outcome.observed_value is not None and not outcome.success:
        sample = f"observed: {markdown_code(outcome.observed_value, _CELL_LIMIT)}"
    else:
        sample = ""
    name = markdown_code(outcome.expectation, _CELL_LIMIT)
    if outcome.expected is not None:
        name += f" expected {markdown_code(outcome.expected, _CELL_LIMIT)}"
    return f"| {name} | {_cell(outcome.severity)} | {_STATUS_LABEL[outcome.status]} | {count} | {sample} |"


def _cell(text: object) -> str:
    """``text`` as one markdown table cell: escaped, on one line, at most ``_CELL_LIMIT``
    characters."""
    return markdown_text(text, _CELL_LIMIT)
