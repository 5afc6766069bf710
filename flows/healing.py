"""The landing watcher's heal step: start the runs that bring stale days up to date
(``revenue.healing`` decides which days and how; ``revenue.io.heal_log`` keeps who claimed
what). The switch: the Prefect variable ``revenue_heal_<environment>`` (``true``/``false``)
when set, else the watcher's default (on in ``revenue dev``), else the environment block's
``heal`` field.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import replace

from revenue.healing import (
    HEAL_TAG,
    RESTART_AFTER,
    HealPolicy,
    HealRequest,
    HealRun,
    heal_runs,
    settled,
    stopped,
    wanted,
)
from revenue.io import heal_log
from revenue.io.environment import Environment
from revenue.io.flow_runs import run_states
from revenue.partitions import partition_range
from revenue.status import PartitionStatus
from revenue.switch import switch_value

log = logging.getLogger("revenue.heal")


def switch_variable(config: str) -> str:
    """The Prefect variable that turns healing on or off for an environment."""
    return f"revenue_heal_{config}"


def heal_switch(config: str, env: Environment, default: bool | None = None) -> bool:
    """Whether the watcher heals: the variable when it is set, else ``default`` (the
    watcher's: on in ``revenue dev``), else the environment block's ``heal``."""
    from prefect.variables import Variable

    value = Variable.get(switch_variable(config), default=None)
    if value is not None:
        switch = switch_value(value)
        if switch is not None:
            return switch
        log.warning("variable %s=%r is neither true nor false: ignored", switch_variable(config), value)
    return default if default is not None else env.block.heal


def heal_policy(config: str, env: Environment, default: bool | None = None) -> HealPolicy:
    """The environment's healing settings, from its environment block (or manifest) and the switch."""
    pipeline = env.block
    return HealPolicy(
        enabled=heal_switch(config, env, default),
        settle=dt.timedelta(seconds=pipeline.heal_settle_seconds),
        horizon_days=pipeline.heal_horizon_days or pipeline.status_weeks * 7,
        deadline=pipeline.alert_deadline,
    )


def horizon_days(policy: HealPolicy, today: dt.date) -> list[dt.date]:
    """The days a pass looks at for healing."""
    return partition_range(*policy.horizon(today))


def watcher_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def heal(
    config: str, env: Environment, statuses: Sequence[PartitionStatus], policy: HealPolicy, now: dt.datetime
) -> list[HealRun]:
    """Record the days behind their input, claim those settled, start their runs; start
    again the runs of claims whose watcher stopped before starting them. Returns the runs
    started (or found again under their keys)."""
    if not policy.enabled:
        return []
    span = policy.horizon(now.date())
    needs = wanted(statuses, policy, now)
    requests = heal_log.record_wanted(env.warehouse, needs, now, span)
    again = stopped(requests, run_states([r.run_id for r in requests if r.claimed_at and r.run_id]))
    if again:  # ended without publishing or failing the day: started again after the settle time
        names = ", ".join(sorted({str(r.run_name) for r in again}))
        log.info("heal runs that ended without publishing their days, started again after the settle time: %s", names)
        heal_log.reopen(env.warehouse, again, now)
        requests = heal_log.record_wanted(env.warehouse, needs, now, span)
    claimed = heal_log.claim(env.warehouse, settled(requests, now, policy.settle), watcher_name(), now)
    still = {(r.partition, r.fingerprint) for r in requests}  # a claim no longer wanted is not started again
    left = [
        r
        for r in heal_log.unstarted(env.warehouse, *span, now - RESTART_AFTER)
        if (r.partition, r.fingerprint) in still
    ]
    runs = _assigned(env, heal_runs(config, claimed)) + _restarted(env, config, left)
    for run in runs:
        _start(env, run)
    return runs


def _assigned(env: Environment, runs: list[HealRun]) -> list[HealRun]:
    """``runs`` with their keys and names recorded on their requests (before they start)."""
    return [
        replace(run, requests=tuple(heal_log.assign(env.warehouse, run.requests, run.key, run.name))) for run in runs
    ]


def _restarted(env: Environment, config: str, requests: Sequence[HealRequest]) -> list[HealRun]:
    """The runs of claims never started: under the key and name each was assigned (its run
    may exist: the key finds it), or planned anew when the watcher stopped before that."""
    by_key: dict[str, list[HealRequest]] = {}
    for request in requests:
        if request.run_key:
            by_key.setdefault(request.run_key, []).append(request)
    runs = []
    for key, group in by_key.items():
        # one key is one run: a daily run for one day, a range run for several
        [rebuilt] = heal_runs(config, group, batch_from=2 if len(group) == 1 else 1)
        runs.append(replace(rebuilt, name=group[0].run_name or rebuilt.name, key=key))
    return runs + _assigned(env, heal_runs(config, [r for r in requests if not r.run_key]))


def _start(env: Environment, run: HealRun) -> None:
    """Start the run (or find it again under its key), recorded in the heal log. A failure
    is logged: the claim is started again after ``RESTART_AFTER``."""
    from flows.started_runs import start_run

    try:
        flow_run = start_run(run.deployment, run.parameters, run.key, run.name, [HEAL_TAG], as_subflow=False)
    except Exception as error:  # noqa: BLE001 - an API outage: the claim is started again later
        log.warning("could not start %s (%s): %s: %s", run.name, run.deployment, type(error).__name__, error)
        return
    heal_log.record_run(env.warehouse, run.requests, str(flow_run.id))
    reasons = "; ".join(f"{r.partition}: {r.reason}" for r in run.requests[:5])
    log.info("healing %s with run %s (%s): %s", ", ".join(map(str, run.days)), run.name, flow_run.id, reasons)
