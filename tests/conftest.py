"""Settings for every test: no telemetry (this machine has no network)."""

import os
import signal

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_UI_ENABLED", "false")

# Started from a background job of a non-interactive shell (`make test &`, nohup, some CI
# runners), pytest and every process it starts inherit SIGINT as ignored, so a test that
# presses Ctrl-C on a child (`revenue watch`, `revenue dev`) would wait for nothing. Children
# of a process that handles SIGINT start with its default action again.
signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_xdist_make_scheduler(config, log):
    """``make test`` runs ``pytest -n 2 --dist loadgroup``: each end-to-end module goes to one
    worker as a whole (its servers and workers are module fixtures), every other test is
    scheduled on its own, so the other worker fills the e2e modules' waits with unit and
    integration tests. (xdist's own loadgroup marks a group by renaming ``item._nodeid``,
    which pytest 9 no longer reads, so it would split the modules.)"""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class EndToEndModules(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if path.startswith("tests/e2e/") else nodeid

    return EndToEndModules(config, log)


def pytest_terminal_summary(terminalreporter):
    """Figures a test reports rather than asserts on (``record_property("landing path",
    ...)``: how long a landed file took to be published, part by part), printed after the
    run; they reach this process from xdist's workers with each test's report."""
    lines = [
        f"{report.nodeid}: {value}"
        for report in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", [])
        if report.when == "call"
        for name, value in getattr(report, "user_properties", [])
        if name == "landing path"
    ]
    if lines:
        terminalreporter.write_sep("-", "timed, not asserted")
        for line in lines:
            terminalreporter.write_line(line)
