"""``python -m tests.integration.serve_warm NAME [--cold] [ENTRYPOINT]``: serve a flow
(default ``where-it-runs``) as deployment NAME, by its entrypoint as ``revenue dev`` serves
its flows, its runs started warm (``flows.warm_start``) unless ``--cold``."""

from __future__ import annotations

import sys

from flows import warm_start
from flows.served import by_entrypoint, load_flow, serve

if __name__ == "__main__":
    name, cold = sys.argv[1], "--cold" in sys.argv
    entrypoints = [a for a in sys.argv[2:] if a != "--cold"]
    entrypoint = entrypoints[0] if entrypoints else "tests/integration/warm_flows.py:where_it_runs"
    warm_start.install(warm=not cold)
    print("serving", flush=True)
    serve([(by_entrypoint(load_flow(entrypoint), entrypoint), {"name": name})], query_seconds=1)
