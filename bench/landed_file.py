"""Reading one landed file at the limits: peak memory and time (issue 23).

``python -m bench.landed_file [--quick]`` runs this scenario alone (no services needed);
``make bench`` runs it too. Every file is written to a temporary directory by this process
(streamed to disk, never whole in memory), then read by ``read_landed_file`` in a fresh
spawned process that first warms the reader on a tiny file, loads the object's bytes (as
the registry does) and resets its peak RSS (``/proc/self/clear_refs``), so ``+read`` is
what reading the file cost on top of holding the object: ``VmHWM`` after the read minus
``VmRSS`` before it. MB = 10^6 bytes.

Files, at the default limits (``LandingLimits()``):

- ``orders at the row limit``: 2,000,000 orders x 6 columns, gzip CSV: read.
- ``widest``: at the column, field and inflated limits at once (250,000 rows x 100 columns
  = 25M fields of 20 characters, ~501 MiB of CSV, gzip): the most memory a file within the
  default limits can take to read, the worst case: read.
- ``gzip bomb``: 1 MB of gzip that inflates to 1 GiB of CSV (a header, then blank lines):
  refused at the inflated limit.
- ``Parquet, 20M rows``: ~300 KB, dictionary-encoded: refused from its footer.
- ``header, 16,384 columns``: refused on the header.
- ``header checks, N columns``: a header of N columns (2k..16k) missing a required column,
  with the column and line limits raised so the header is processed: the time must grow
  linearly (it was quadratic: 18.5 s at 16k columns) and the error stays short.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.child import MB, quiet_child, run_in_child
from bench.machine import load_average
from bench.plan import Log

HEADER = b"order_id,customer_id,amount,order_date,currency,channel\n"
WIDE_COLUMNS = (2_048, 4_096, 8_192, 16_384)


# ------------------------------------------------------------------ building the files


def write_orders(path: Path, rows: int) -> None:
    """``rows`` distinct orders, gzip CSV, written in blocks."""
    with gzip.open(path, "wb", compresslevel=1) as out:
        out.write(HEADER)
        for start in range(0, rows, 50_000):
            out.write(
                "".join(
                    f"{10_000_000 + i},cust-{i * 7919 % 100_000:06d},{i * 37 % 50_000 / 100:.2f},"
                    f"2026-03-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z,EUR,web\n"
                    for i in range(start, min(rows, start + 50_000))
                ).encode()
            )


def write_widest(path: Path, rows: int, columns: int, width: int) -> None:
    """A gzip CSV of ``columns`` columns (the four required first), values of ``width``
    characters."""
    names = ["order_id", "customer_id", "amount", "order_date", *(f"c{i}" for i in range(columns - 4))]
    line = ((("7" * width) + ",") * (columns - 1) + "7" * width + "\n").encode()
    with gzip.open(path, "wb", compresslevel=1) as out:
        out.write((",".join(names) + "\n").encode())
        for start in range(0, rows, 10_000):
            out.write(line * min(10_000, rows - start))


def write_bomb(path: Path, inflated: int) -> None:
    """A valid single-member gzip of a CSV header and ``inflated`` bytes of line breaks,
    built from one compressed block reused (deflate restarts at each full flush)."""
    block = b"\n" * (1 << 20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = deflate.compress(HEADER) + deflate.flush(zlib.Z_FULL_FLUSH)
    one = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(HEADER)
    repeats = inflated // len(block)
    for _ in range(repeats):
        crc = zlib.crc32(block, crc)
    size = len(HEADER) + repeats * len(block)
    with open(path, "wb") as out:
        out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + first)
        for _ in range(repeats):
            out.write(one)
        out.write(deflate.flush() + crc.to_bytes(4, "little") + (size & 0xFFFFFFFF).to_bytes(4, "little"))


def write_tall_parquet(path: Path, rows: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    chunk = min(rows, 1_000_000)
    values = ("1", "a", "10", "2026-03-01")
    table = pa.table(
        {
            name: pa.DictionaryArray.from_arrays(pa.array(np.zeros(chunk, dtype=np.int32)), pa.array([value]))
            for name, value in zip(("order_id", "customer_id", "amount", "order_date"), values)
        }
    )
    with pq.ParquetWriter(path, table.schema) as writer:
        for _ in range(rows // chunk):
            writer.write_table(table, row_group_size=chunk)


def write_header(path: Path, columns: int) -> None:
    """A header of ``columns`` names without ``order_date``, and one row."""
    names = ["order_id", "customer_id", "amount", *(f"column_{i}" for i in range(columns - 3))]
    path.write_bytes((",".join(names) + "\n" + "1," * (columns - 1) + "1\n").encode())


# ------------------------------------------------------------------ reading in a child


def _status(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def read_in_child(path: str, raised: dict[str, int] | None = None) -> dict[str, Any]:
    """Read ``path`` with the default limits (``raised``: some raised) and report what it cost."""
    quiet_child()
    from revenue.io.landing.files import LandedFileError, read_landed_file
    from revenue.io.landing.limits import LandingLimits

    limits = LandingLimits(**(raised or {}))
    read_landed_file(b"order_id,customer_id,amount,order_date\n1,a,1,2026-03-01\n", "warm-up.csv", limits)
    data = Path(path).read_bytes()
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")  # reset VmHWM to the current RSS
    except OSError:
        pass
    rss_before = _status("VmRSS")
    started = time.perf_counter()
    outcome: dict[str, Any]
    try:
        landed = read_landed_file(data, Path(path).name, limits)
        seconds = time.perf_counter() - started
        peak = _status("VmHWM")
        rows, columns = landed.rows.shape
        outcome = {"outcome": "read", "rows": rows, "columns": columns, "fields": rows * columns}
        outcome["frame_mb"] = round(int(landed.rows.memory_usage(deep=True).sum()) / MB, 1)
    except LandedFileError as error:
        seconds = time.perf_counter() - started
        peak = _status("VmHWM")
        outcome = {"outcome": "refused", "error": str(error), "error_chars": len(str(error))}
    return {
        **outcome,
        "seconds": round(seconds, 3),
        "object_mb": round(len(data) / MB, 2),
        "rss_before_mb": round(rss_before / MB, 1),
        "peak_rss_mb": round(peak / MB, 1),
        "read_mb": round((peak - rss_before) / MB, 1),
    }


def landed_file_scenarios(quick: bool = False, log: Log | None = None) -> dict[str, Any]:
    """Every case of the module docstring (``quick``: the readable files at 1/10 and 1/40 of
    the row limit)."""
    from revenue.io.landing.limits import LandingLimits

    limits = LandingLimits()
    say = log or (lambda message: print(message, file=sys.stderr, flush=True))
    order_rows = limits.rows // (10 if quick else 1)
    wide_rows = limits.fields // limits.columns // (40 if quick else 1)
    wide_value = limits.inflated_bytes // limits.fields - 1  # and a comma: the inflated limit
    cases: dict[str, Any] = {"limits": {name: getattr(limits, name) for name in limits.__dataclass_fields__}}
    with tempfile.TemporaryDirectory(prefix="bench-landed-") as tmp:
        directory = Path(tmp)
        plan: list[tuple[str, str, Callable[..., None], tuple[int, ...]]] = [
            ("orders", f"orders at the row limit: {order_rows:,} x 6 columns, gzip CSV", write_orders, (order_rows,)),
            ("widest", f"widest: {wide_rows:,} x {limits.columns} columns of {wide_value} characters, gzip CSV",
             write_widest, (wide_rows, limits.columns, wide_value)),
            ("bomb", f"gzip bomb: inflates to 1 GiB (limit {limits.describe('inflated_bytes')})", write_bomb,
             (1 << 30,)),
            ("parquet", "Parquet, 20,000,000 rows, dictionary-encoded", write_tall_parquet, (20_000_000,)),
            ("wide_header", "header, 16,384 columns", write_header, (16_384,)),
        ]  # fmt: skip
        for name, label, write, args in plan:
            path = directory / name
            say(f"landed file: {label}")
            write(path, *args)
            cases[name] = {"label": label, "load_average": load_average(), **run_in_child(read_in_child, str(path))}
        raised = {"columns": 20_000, "line_chars": 1 << 20}
        cases["header_checks"] = []
        for columns in WIDE_COLUMNS:
            path = directory / f"header-{columns}"
            write_header(path, columns)
            say(f"landed file: header checks, {columns:,} columns (limits raised)")
            cases["header_checks"].append({"columns": columns, **run_in_child(read_in_child, str(path), raised)})
    widest = cases["widest"]
    if widest.get("fields"):
        widest["read_bytes_per_field"] = round(widest["read_mb"] * MB / widest["fields"], 1)
    return cases


def render_lines(cases: dict[str, Any] | None) -> list[str]:
    """The report's lines for this scenario (empty when it did not run)."""
    if not cases:
        return []
    out = ["Reading one landed file at the default limits (fresh process each; +read = peak RSS minus RSS "
           "before, the object's bytes already loaded; load average before each)"]  # fmt: skip
    for name in ("orders", "widest", "bomb", "parquet", "wide_header"):
        case = cases.get(name)
        if not case:
            continue
        what = (
            f"read {case['rows']:,} rows x {case['columns']} columns"
            if case["outcome"] == "read"
            else f"refused: {case['error'].split(': ', 1)[-1].split(' (REVENUE_')[0]}"
        )
        out.append(
            f"  {case['label']}: object {case['object_mb']} MB, +read {case['read_mb']} MB, "
            f"{case['seconds']:.2f} s (load {(case.get('load_average') or ['?'])[0]}); {what}"
        )
    if cases.get("widest", {}).get("read_bytes_per_field"):
        out.append(f"  widest file: {cases['widest']['read_bytes_per_field']} bytes per field read")
    checks = cases.get("header_checks") or []
    if checks:
        out.append(
            "  header checks (limits raised): "
            + ", ".join(f"{c['columns']:,} columns {c['seconds']:.3f} s ({c['error_chars']} chars)" for c in checks)
        )
    out.append("")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.landed_file", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller readable files (1/10 and 1/40 of the row limit)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    cases = landed_file_scenarios(args.quick)
    print("\n".join(render_lines(cases)))
    if args.json:
        args.json.write_text(json.dumps(cases, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
