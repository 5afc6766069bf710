"""Reading a landed file in a capped child process: whatever happens there, the caller gets
a summary, the reader's own ``LandedFileError``, or ``ReaderDied`` saying how it stopped."""

from __future__ import annotations

import datetime as dt
import gzip
import os
import signal
from pathlib import Path

import pytest

import revenue.io.landing.isolated_read as isolated
from revenue.io.landing.files import LandedFileError
from revenue.io.landing.isolated_read import ReaderDied, read_isolated
from revenue.io.landing.limits import LandingLimits, MiB

HEADER = b"order_id,customer_id,amount,order_date\n"
GOOD = HEADER + b"1,a,1.00,2026-03-01T10:00:00Z\n2,b,2.00,2026-03-02T10:00:00Z\n3,c,x,\n"


def readers() -> list[int]:
    """The reading children of this process still running."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        state = stat.rsplit(")", 1)[1].split()[0]
        if ppid == os.getpid() and state != "Z" and b"revenue.io.landing.isolated_read" in cmdline:
            found.append(int(proc.name))
    return found


def inflating(rows: int) -> bytes:
    return gzip.compress(HEADER + b"1,c,1.00,2026-03-20T10:00:00Z\n" * rows, compresslevel=9)


def test_a_readable_file_comes_back_as_its_days_and_rejects():
    summary = read_isolated(GOOD, "s3://b/landing/good.csv", LandingLimits(read_memory=256 * MiB, read_seconds=60))

    assert summary.days == {dt.date(2026, 3, 1): 1, dt.date(2026, 3, 2): 1}
    assert summary.rows == 3 and len(summary.rejects) == 1


def test_the_readers_own_refusal_is_raised_as_it_said_it():
    with pytest.raises(LandedFileError, match="empty file"):
        read_isolated(b"", "s3://b/landing/empty.csv", LandingLimits(read_memory=256 * MiB, read_seconds=60))


def test_a_file_that_needs_more_memory_than_the_cap_is_a_dead_reader_not_a_dead_caller():
    with pytest.raises(ReaderDied, match="needed more than 48 MiB of memory"):
        read_isolated(
            inflating(2_000_000), "s3://b/landing/bomb.csv.gz", LandingLimits(read_memory=48 * MiB, read_seconds=120)
        )
    # the caller goes on reading other files
    assert (
        read_isolated(GOOD, "s3://b/landing/good.csv", LandingLimits(read_memory=256 * MiB, read_seconds=60)).rows == 3
    )


def test_a_reading_past_its_time_is_killed():
    with pytest.raises(ReaderDied, match=r"took longer than 0.01 s"):
        read_isolated(
            inflating(500_000), "s3://b/landing/slow.csv.gz", LandingLimits(read_memory=1024 * MiB, read_seconds=0.01)
        )


def test_a_reader_killed_by_a_signal_says_so(monkeypatch):
    monkeypatch.setattr(isolated, "CHECK_EVERY", 0.01)

    def kill_it() -> None:  # what the OOM killer does to the child
        for pid in readers():
            os.kill(pid, signal.SIGKILL)

    with pytest.raises(ReaderDied, match="stopped by signal SIGKILL"):
        read_isolated(
            inflating(2_000_000),
            "s3://b/landing/big.csv.gz",
            LandingLimits(read_memory=2048 * MiB, read_seconds=120),
            kill_it,
        )


def test_what_the_caller_raises_while_waiting_stops_the_child(monkeypatch):
    monkeypatch.setattr(isolated, "CHECK_EVERY", 0.01)

    class LeaseLost(Exception):
        pass

    def lost() -> None:
        raise LeaseLost

    with pytest.raises(LeaseLost):
        read_isolated(
            inflating(2_000_000),
            "s3://b/landing/big.csv.gz",
            LandingLimits(read_memory=2048 * MiB, read_seconds=120),
            lost,
        )
    assert readers() == []


def test_a_file_larger_than_a_pipe_reaches_a_child_that_starts_slowly(monkeypatch):
    """The child imports for seconds before it reads its request: a request written to a pipe
    (64 KiB) and given up on at the first check used to leave it waiting for the rest."""
    monkeypatch.setattr(isolated, "CHECK_EVERY", 0.01)
    bomb = inflating(2_000_000)
    assert len(bomb) > 65536

    with pytest.raises(ReaderDied, match="needed more than 48 MiB of memory"):
        read_isolated(bomb, "s3://b/landing/bomb.csv.gz", LandingLimits(read_memory=48 * MiB, read_seconds=60))
