"""flows.warm_start's choices that need no process: which context the engine gets, and
when the fork server is restarted (a fake fork server stands in for the real one here;
tests/integration/test_warm_start.py runs the real thing)."""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import os

import pytest

from flows import warm_start


class FakeForkServer:
    def __init__(self) -> None:
        self.stopped = 0

    def _stop(self) -> None:
        self.stopped += 1


@pytest.fixture
def project(tmp_path, monkeypatch):
    package = tmp_path / "flows"
    package.mkdir()
    (package / "module.py").write_text("x = 1\n")
    server = FakeForkServer()
    monkeypatch.setattr(warm_start, "CODE", (package,))
    monkeypatch.setattr(multiprocessing.forkserver, "_forkserver", server)
    monkeypatch.setattr(warm_start, "_loaded_code", warm_start.code_version())
    return package, server


def test_only_the_spawn_context_is_the_warm_one(project):
    shim = warm_start._Multiprocessing()
    assert shim.get_context("spawn") is warm_start.WARM
    assert shim.get_context("fork") is multiprocessing.get_context("fork")
    assert shim.Queue is multiprocessing.Queue  # everything else is the real module


def test_unchanged_code_keeps_the_fork_server(project):
    _, server = project
    warm_start._Multiprocessing().get_context("spawn")
    assert server.stopped == 0


def test_an_edited_module_restarts_the_fork_server_once(project):
    package, server = project
    module = package / "module.py"
    later = module.stat().st_mtime + 5
    os.utime(module, (later, later))
    warm_start._Multiprocessing().get_context("spawn")
    warm_start._Multiprocessing().get_context("spawn")
    assert server.stopped == 1


@pytest.mark.parametrize("change", ["added", "deleted"])
def test_a_module_added_or_deleted_restarts_the_fork_server(project, change):
    package, server = project
    if change == "added":
        (package / "new.py").write_text("y = 2\n")
        os.utime(package / "new.py", (0, 0))  # older than the rest: no newest-time check would see it
    else:
        (package / "module.py").unlink()
    warm_start._Multiprocessing().get_context("spawn")
    assert server.stopped == 1
