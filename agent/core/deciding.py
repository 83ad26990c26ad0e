"""One device's decision at a given moment: fuse its senses' latest scores, then advance its
alarm lifecycle (pure: the caller says what time it is).

The running pipeline decides on the wall clock; `edge-agent evaluate episodes` replays
recordings on their own clock through the same object, so both decide alike.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping

from agent.config.decision import AlarmConfig, FusionConfig
from agent.core.alarms import AlarmTracker, AlarmTransition
from agent.core.calibration import CalibratedRule
from agent.core.fusion import Decision, fuse
from agent.core.samples import Modality, Score


class Decider:
    """The latest score of each of a device's senses, its alarm tracker, and the rule to
    decide by: weighted fusion, or `calibrated` fusion once the device has learned."""

    def __init__(
        self,
        device: str,
        senses: Iterable[Modality],
        fusion: FusionConfig,
        alarm: AlarmConfig,
        sequence: Iterator[int],
        started_at: float,
    ) -> None:
        self.device = device
        self.senses = tuple(senses)
        self.fusion = fusion
        self.tracker = AlarmTracker(device, alarm, sequence)
        self.scores: dict[Modality, Score] = {}
        self.started_at = started_at  # alarms wait for every sense from here (warming up)

    def fuse(
        self,
        now: float,
        unavailable: Mapping[Modality, str],
        calibrated: CalibratedRule | None,
        trigger: Modality | None = None,
    ) -> Decision:
        """The fused decision at `now`, leaving out the senses that are `unavailable`;
        `trigger` is the sense whose new score prompts it (None: the clock)."""
        return fuse(
            self.device,
            self.scores,
            self.fusion,
            self.senses,
            now,
            unavailable,
            calibrated,
            trigger,
        )

    def decide(
        self,
        now: float,
        unavailable: Mapping[Modality, str],
        calibrated: CalibratedRule | None,
        trigger: Modality | None = None,
    ) -> tuple[Decision, AlarmTransition | None]:
        """Fuse, then advance the alarm lifecycle: the decision and the event it causes."""
        decision = self.fuse(now, unavailable, calibrated, trigger)
        if self.warming_up(now, unavailable):
            return decision, None
        return decision, self.tracker.update(decision, now)

    def warming_up(self, now: float, unavailable: Collection[Modality]) -> bool:
        """At start, hold alarms until every live sense has spoken once (or `stale_after_s`).

        Otherwise the first sense to report would carry all the renormalised weight, and an
        alarm would go out before the evidence of the other senses exists.
        """
        if now - self.started_at >= self.fusion.stale_after_s:
            return False
        return any(m not in self.scores and m not in unavailable for m in self.senses)
