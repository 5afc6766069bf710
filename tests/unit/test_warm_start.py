"""flows.warm_start's choices that need no process: which context a run starts from, and
when the fork server is replaced (its start is recorded instead of made here;
tests/integration/test_warm_start.py runs the real thing)."""

from __future__ import annotations

import multiprocessing
import os
import threading

import pytest

from flows import warm_start


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project of one module, warm starts on, the fork server ready and current."""
    package = tmp_path / "flows"
    package.mkdir()
    (package / "module.py").write_text("x = 1\n")
    monkeypatch.setattr(warm_start, "CODE", (package,))
    monkeypatch.setattr(warm_start, "_warm", True)
    monkeypatch.setattr(warm_start, "_stale", False)
    monkeypatch.setattr(warm_start, "_loaded_code", warm_start.code_version())
    ready = threading.Event()
    ready.set()
    monkeypatch.setattr(warm_start, "_ready", ready)
    replaced: list[bool] = []
    monkeypatch.setattr(warm_start, "_replace_in_background", lambda: replaced.append(True))
    running: list[object] = []
    monkeypatch.setattr(warm_start, "_warm_children", lambda: running)
    return package, replaced, running


def start() -> object:
    return warm_start._Multiprocessing().get_context("spawn")


def edit(module) -> None:
    later = module.stat().st_mtime + 5
    os.utime(module, (later, later))


def test_only_the_spawn_context_is_replaced(project):
    shim = warm_start._Multiprocessing()
    assert shim.get_context("fork") is multiprocessing.get_context("fork")
    assert shim.Queue is multiprocessing.Queue  # everything else is the real module


def test_a_ready_current_fork_server_starts_runs_warm(project):
    assert start() is warm_start.WARM


def test_runs_are_spawned_until_the_fork_server_is_ready(project):
    warm_start._ready.clear()
    assert start() is warm_start.SPAWNED


def test_runs_are_spawned_with_warm_starts_off(project, monkeypatch):
    monkeypatch.setattr(warm_start, "_warm", False)
    assert start() is warm_start.SPAWNED


def test_after_an_edit_runs_are_spawned_while_a_warm_run_computes(project):
    package, replaced, running = project
    running.append(object())
    edit(package / "module.py")
    assert start() is warm_start.SPAWNED
    assert start() is warm_start.SPAWNED
    assert replaced == []  # never stopped under a running run


def test_once_idle_a_stale_fork_server_is_replaced_once_and_runs_go_warm_again(project):
    package, replaced, running = project
    running.append(object())
    edit(package / "module.py")
    assert start() is warm_start.SPAWNED
    running.clear()
    assert start() is warm_start.SPAWNED  # the replacement starts in the background
    assert replaced == [True]
    assert start() is warm_start.SPAWNED  # not ready yet
    warm_start._ready.set()
    assert start() is warm_start.WARM
    assert replaced == [True]


@pytest.mark.parametrize("change", ["added", "deleted"])
def test_a_module_added_or_deleted_makes_the_fork_server_stale(project, change):
    package, replaced, _ = project
    if change == "added":
        (package / "new.py").write_text("y = 2\n")
        os.utime(package / "new.py", (0, 0))  # older than the rest: no newest-time check would see it
    else:
        (package / "module.py").unlink()
    assert start() is warm_start.SPAWNED
    assert replaced == [True]
