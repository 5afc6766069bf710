"""The backfill's progress artifact is throttled: every update is a request and an event
for the Prefect server, so a fast backfill must not send one per partition."""

from __future__ import annotations

import flows.progress as progress_module
from flows.progress import ThrottledProgress


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_updates_at_most_once_per_interval_and_always_at_the_end(monkeypatch):
    sent: list[float] = []
    clock = FakeClock()
    monkeypatch.setattr(progress_module, "create_progress_artifact", lambda **kwargs: "artifact-id")
    monkeypatch.setattr(
        progress_module, "update_progress_artifact", lambda artifact_id, progress: sent.append(progress)
    )
    monkeypatch.setattr(progress_module.time, "monotonic", clock)

    progress = ThrottledProgress(total=10, description="10 partitions", interval_s=1.0)
    for done in range(1, 6):  # five partitions within half a second: no update yet
        clock.now += 0.1
        progress.update(done)
    assert sent == []

    clock.now += 0.6  # a second since the artifact was created
    progress.update(6)
    assert sent == [60.0]

    for done in range(7, 11):  # the rest finish quickly: only the final 100% is sent
        clock.now += 0.01
        progress.update(done)
    assert sent == [60.0, 100.0]
    progress.update(10)  # the end is reported again (the multi-run parent does): nothing is sent
    assert sent == [60.0, 100.0]
