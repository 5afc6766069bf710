"""The benchmark of the daily-revenue pipeline: what a partition and a backfill cost on this
machine, and how the cost grows with data. Run ``python -m bench`` (or ``make bench``); how to
read its output is in :mod:`bench.__main__`.

Modules:

- ``plan``: what to measure (sizes, days, repeats) and the partition days used.
- ``services``: Postgres, the S3 API (moto server), the Prefect API and the blocks.
- ``data``: seeded demo orders, loaded with COPY.
- ``child``: runs one scenario in a fresh process and measures its memory.
- ``stages``: one partition's stages run bare (the functions the tasks call).
- ``partition``, ``backfill``, ``baselines``: the scenarios.
- ``report``: agreement check, targets, terminal table, JSON (``python -m bench.report FILE``
  prints a results file's report again).
"""
