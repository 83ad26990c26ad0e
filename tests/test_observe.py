"""The stage hooks that metrics and bench share."""

from __future__ import annotations

import asyncio

import pytest

from agent.observe import stages as observe
from agent.observe.stages import Observer, Scope, Stage, StageTiming


class Recorder(Observer):
    def __init__(self) -> None:
        self.timings: list[StageTiming] = []
        self.samples: list[tuple[Scope, int]] = []

    def on_stage(self, timing: StageTiming) -> None:
        self.timings.append(timing)

    def on_sample(self, scope: Scope, dropped: int) -> None:
        self.samples.append((scope, dropped))


def work_in_thread() -> None:
    with observe.timed(Stage.PREPROCESS):
        sum(range(1000))


async def test_scope_follows_the_task_into_worker_threads() -> None:
    async def source(device: str) -> None:
        observe.scope(device, "image")
        await asyncio.to_thread(work_in_thread)
        observe.sample(dropped=2)

    with observe.subscribed(Recorder()) as seen:
        await asyncio.gather(source("pump-01"), source("motor-02"))
    assert sorted(t.scope.device for t in seen.timings) == ["motor-02", "pump-01"]
    assert {t.scope.modality for t in seen.timings} == {"image"}
    assert all(t.stage is Stage.PREPROCESS and t.seconds > 0 for t in seen.timings)
    assert sorted((s.device, d) for s, d in seen.samples) == [("motor-02", 2), ("pump-01", 2)]
    assert observe.current_scope() == Scope()  # the tasks' scopes did not leak out


def test_a_failing_stage_is_still_timed_and_unsubscribing_stops_reports() -> None:
    seen = Recorder()
    with (
        observe.subscribed(seen),
        pytest.raises(ValueError),
        observe.timed(Stage.INFERENCE, "m@1", "cpu"),
    ):
        raise ValueError("model broke")
    with observe.timed(Stage.INFERENCE):
        pass
    assert [(t.stage, t.model, t.backend) for t in seen.timings] == [
        (Stage.INFERENCE, "m@1", "cpu")
    ]


@pytest.mark.parametrize(
    ("previous", "index", "skipped"),
    [(None, 0, 0), (4, 5, 0), (4, 9, 4), (299, 0, 0), (3, "x", 0)],
)
def test_frames_skipped_counts_gaps_but_not_loop_restarts(
    previous: object, index: object, skipped: int
) -> None:
    assert observe.frames_skipped(previous, {"frame_index": index}) == skipped
