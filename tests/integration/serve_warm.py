"""``python -m tests.integration.serve_warm NAME [--cold]``: serve ``where-it-runs`` as
deployment NAME, its runs started warm (``flows.warm_start``) unless ``--cold``."""

from __future__ import annotations

import sys

from flows import warm_start
from flows.served import serve
from tests.integration.warm_flows import where_it_runs

if __name__ == "__main__":
    name, cold = sys.argv[1], "--cold" in sys.argv
    if not cold:
        warm_start.install()
        warm_start.start_in_background()
    print("serving", flush=True)
    serve([(where_it_runs, {"name": name})], query_seconds=1)
