"""Every deployment of ``prefect.yaml``, built to be served from one process (``revenue dev``).

prefect.yaml stays the one definition of the deployments: their names, descriptions, tags,
parameters, cron schedules and event triggers are read from it, and its ``{{ $VARIABLE }}``
placeholders are filled from ``values`` (``REVENUE_ENV``: the environment). Placeholders
the server fills at run time (``{{ event.resource.id }}``) are left as they are. The work
pool, pull steps and the project directory do not apply: ``serve`` runs the flows in
subprocesses of the serving process, from this checkout.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from prefect import Flow

from revenue import settings
from revenue.placeholders import PlaceholderError, fill

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

PREFECT_YAML = Path(__file__).resolve().parents[1] / "prefect.yaml"


DeploymentSpecError = PlaceholderError
"""prefect.yaml asks for something serving cannot fill (an unknown variable)."""


def deployment_specs(values: Mapping[str, str], path: Path = PREFECT_YAML) -> list[dict[str, Any]]:
    """The ``deployments`` of prefect.yaml with their ``{{ $VARIABLE }}`` placeholders filled."""
    document = yaml.safe_load(path.read_text())
    return [fill(spec, values, f"{path.name}: deployment {spec.get('name')!r}") for spec in document["deployments"]]


def load_flow(entrypoint: str) -> Flow[..., Any]:
    """The flow object of ``flows/daily_revenue.py:daily_revenue``, imported as a module."""
    path, name = entrypoint.rsplit(":", 1)
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    flow: Flow[..., Any] = getattr(module, name)
    return flow


def by_entrypoint(flow: Any, entrypoint: str) -> Any:
    """``flow`` as the runner hands it to a run's process: by its entrypoint, imported there
    (``load_flow``), not pickled by value. cloudpickle pickles a ``@flow`` function's code
    itself (its module attribute is the Flow, not the function), so a served flow's body
    would stay what it was when serving began while the helpers it calls are imported fresh:
    after an edit, runs would mix two versions of the code."""
    served = copy.copy(flow)
    served.__class__ = ServedFlow
    served.served_entrypoint = entrypoint
    return served


class ServedFlow(Flow[..., Any]):
    """A flow that pickles as its entrypoint (``by_entrypoint``)."""

    served_entrypoint: str

    def __reduce__(self) -> tuple[Callable[[str], Flow[..., Any]], tuple[str]]:
        return (load_flow, (self.served_entrypoint,))


def served_flows(config: str, path: Path = PREFECT_YAML) -> list[tuple[Any, dict[str, Any]]]:
    """Each deployment of prefect.yaml as its flow object and the keyword arguments of
    ``Flow.to_deployment`` / ``Runner.add_flow`` that define it here."""
    from prefect.events import DeploymentTriggerTypes
    from prefect.schedules import Cron
    from pydantic import TypeAdapter

    trigger = TypeAdapter(DeploymentTriggerTypes)

    served = []
    for spec in deployment_specs({settings.ENV.name: config}, path):
        schedules = [
            Cron(s["cron"], timezone=s.get("timezone"), active=s.get("active", True))
            for s in spec.get("schedules") or []
            if "cron" in s
        ]
        triggers = [
            trigger.validate_python({"name": f"{spec['name']}__automation_{number}", **spec_})
            for number, spec_ in enumerate(spec.get("triggers") or [], start=1)
        ]
        options = {
            "name": spec["name"],
            "description": spec.get("description"),
            "tags": spec.get("tags"),
            "parameters": spec.get("parameters"),
            "schedules": schedules or None,
            "triggers": triggers or None,
        }
        served.append((by_entrypoint(load_flow(spec["entrypoint"]), spec["entrypoint"]), options))
    return served


def runner_deployments(config: str, path: Path = PREFECT_YAML) -> list[RunnerDeployment]:
    """One ``RunnerDeployment`` per deployment of prefect.yaml."""
    return [flow.to_deployment(**options) for flow, options in served_flows(config, path)]


def deployment_names(served: list[tuple[Any, dict[str, Any]]]) -> list[str]:
    """``flow/deployment`` of each served flow."""
    return [f"{flow.name}/{options['name']}" for flow, options in served]


def serve(served: list[tuple[Any, dict[str, Any]]], query_seconds: float) -> None:
    """Serve the flows as their deployments from this process until interrupted, as
    ``prefect.serve`` does (schedules paused on shutdown), but with each flow object given to
    the runner (``Runner.add_flow``): the runner then starts a run from that object
    (``run_flow_in_subprocess``, warm once ``flows.warm_start`` is installed) instead of a
    ``python -m prefect.engine`` process that imports the flow from its entrypoint again."""
    import asyncio

    from prefect.exceptions import TerminationSignal
    from prefect.runner import Runner

    runner = Runner(pause_on_shutdown=True, query_seconds=query_seconds)
    for flow, options in served:
        runner.add_flow(flow, **options)
    try:
        asyncio.run(runner.start())
    except (KeyboardInterrupt, TerminationSignal):
        pass
    finally:
        stop_run_processes()


def stop_run_processes(grace: float = 20.0) -> None:
    """Wait up to ``grace`` seconds for the run processes the runner left running when it
    stopped, then SIGTERM those still running (SIGKILL 10 s later).

    A terminal's Ctrl-C reaches them too (one process group): Prefect's engine in each then
    ends its run itself ("aborted by an interrupt signal"), which takes a moment while the
    server is still up; a second signal on top of that one broke its cleanup ("release
    unlocked lock": the run ended Failed). Without this wait, multiprocessing would join them
    at exit anyway, and a stopped ``revenue dev`` waited for runs failing against the server
    it had stopped. A run still running after ``grace`` got no signal (the serving process
    alone was stopped, by ``kill`` or a service manager): SIGTERM lets its engine record it
    crashed rather than leave it Running; ``revenue dev`` then sets it Cancelled."""
    import multiprocessing
    import time

    children = multiprocessing.active_children()
    deadline = time.monotonic() + grace
    for child in children:
        child.join(max(0.0, deadline - time.monotonic()))
    left = [child for child in children if child.is_alive()]
    for child in left:  # never signalled (the serving process alone was stopped): their engines record it
        child.terminate()
    for child in left:
        child.join(10)
        if child.is_alive():
            child.kill()
            child.join(5)
