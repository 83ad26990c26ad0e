"""One device's pipeline: sources → scorers → fusion → alarm lifecycle → its Sink."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from agent.backoff import Backoff
from agent.config.device import DeviceConfig
from agent.core.alarms import Alarm, AlarmTransition, ClearReason
from agent.core.calibration import CalibratedRule
from agent.core.calibration_check import LastDay
from agent.core.deciding import Decider
from agent.core.fusion import Decision
from agent.core.payload import alarm_payload, device_state, encode, iso, state_payload
from agent.core.samples import Modality, Sample, Score
from agent.learning.device import DeviceLearning, LearningProgress, finish_and_save
from agent.learning.scorers import (
    calibrated_fusion,
    device_rule,
    fusion_model,
    learned_scorers,
)
from agent.learning.store import Card, LearnedStore, SavedCheck, StoreError
from agent.observe import stages as observe
from agent.runtime.channels import Channel
from agent.runtime.health import DeviceHealth, PartHealth
from agent.senses.learning import judged
from agent.senses.registry import readings
from agent.senses.scorer import Scorer
from agent.senses.source import SourceError
from agent.sinks.base import Sink
from agent.sinks.disk import StorageStatus
from agent.sinks.mqtt.publisher import raise_lost_cancellation
from agent.sinks.mqtt.topics import Topics

log = logging.getLogger(__name__)

RETRY_FIRST_S, RETRY_MAX_S = 1.0, 30.0  # a failed source is reopened after 1, 2, 4 … 30 s
STATE_EVERY_S = 1.0
CHECK_KEPT_EVERY_S = 300.0  # the calibration check is written to disk this often, and at a stop


LATENCIES_KEPT = 10_000


class LatencyRing:
    """The last `size` latencies in one array allocated up front.

    A `deque(maxlen=...)` of floats costs 32 bytes a sample and grows for as long as it takes
    to fill (minutes to hours, with the rate), so a soak's RSS climbs through its first hours
    for no reason; this costs 8 bytes a sample and never allocates again.
    """

    def __init__(self, size: int) -> None:
        self._values = np.zeros(size, dtype=np.float64)
        self._count = 0  # appended so far; the next goes to _count % size

    def append(self, value: float) -> None:
        """Keep `value`, dropping the oldest once full."""
        self._values[self._count % self._values.size] = value
        self._count += 1

    def values(self) -> tuple[float, ...]:
        """The kept values, oldest first."""
        size = self._values.size
        if self._count <= size:
            return tuple(self._values[: self._count].tolist())
        start = self._count % size
        return tuple(np.concatenate((self._values[start:], self._values[:start])).tolist())

    def __len__(self) -> int:
        return min(self._count, self._values.size)


@dataclass(frozen=True, slots=True)
class PipelineStatus:
    """What others may know of a device's pipeline: its last decision, open alarm and health."""

    device: str
    last_decision: Decision | None
    active_alarm: Alarm | None
    sources: Mapping[Modality, PartHealth]
    models: Mapping[Modality, PartHealth]
    processed: Mapping[Modality, int]  # samples scored since start, per sense
    learning: LearningProgress | None = None  # while it learns its own normal
    learned_version: int | None = None  # the learned version its scorers use, if any
    # once learned: do its calibrated scores keep their promise (each sense's SenseCheck.view)
    calibration_check: Mapping[str, Any] | None = None


class DevicePipeline:
    """Runs every source of one device under supervision and keeps its decision current.

    A failing source or scorer degrades only its own modality: it is dropped from fusion
    (weights renormalised), reported in the device's health, and retried with backoff.

    With a `store`, the device uses what it learned of its own normal (calibrated scorers and
    fusion), or, with nothing learned and `learning.enabled`, learns first: its samples go to
    the learners, only hard limits alarm, and its state is `learning` with the progress.
    Once learned, its calibrated scores of the last day are counted while no alarm is open
    (`LastDay`, in its state): do they reach rare levels as seldom as they promise? The count
    is kept beside the learned version, so a restart goes on with it.
    """

    def __init__(
        self,
        config: DeviceConfig,
        channels: dict[Modality, Channel],
        sink: Sink,
        topics: Topics,
        sequence: Iterator[int],
        store: LearnedStore | None = None,
    ) -> None:
        self.config = config
        self._channels = channels
        self._store = store
        self._fusion_model = fusion_model(config.fusion)  # refused at start when not one
        self._calibrated: CalibratedRule | None = None
        self._learned_version: int | None = None
        self._learned_about: tuple[float, str] | None = None  # when and why it was learned
        self._learning: DeviceLearning | None = None
        self._learned_senses: frozenset[Modality] = frozenset()
        self._check = LastDay([], 0.0)
        self._check_kept_at = time.monotonic()
        if store is not None:
            self._start_from(store)
        self._sink = sink
        self._topics = topics
        self._decider = Decider(
            config.id, channels, config.fusion, config.alarm, sequence, time.time()
        )
        models = {m: next(iter(c.scorer.models), None) for m, c in channels.items()}
        self._health = DeviceHealth(config.id, models, on_change=self._health_changed)
        self._last_decision: Decision | None = None
        self._processed: Counter[Modality] = Counter(dict.fromkeys(channels, 0))  # per sense
        self._latency_ms = LatencyRing(LATENCIES_KEPT)  # capture -> decision, per sample
        self._scored = asyncio.Condition()
        self._last_state: tuple[str, float] = ("", 0.0)

    @property
    def device(self) -> str:
        """The device id."""
        return self.config.id

    def status(self) -> PipelineStatus:
        """A read-only view of the pipeline now (a copy: later changes do not show in it)."""
        return PipelineStatus(
            device=self.device,
            last_decision=self._last_decision,
            active_alarm=self._decider.tracker.active,
            sources=MappingProxyType(dict(self._health.sources)),
            models=MappingProxyType(dict(self._health.models)),
            processed=MappingProxyType(dict(self._processed)),
            learning=self._learning.status() if self._learning is not None else None,
            learned_version=self._learned_version,
            calibration_check=self._check.view(time.time())["senses"]
            if self._learned_senses
            else None,
        )

    def latencies_ms(self) -> tuple[float, ...]:
        """Capture → decision of each recent sample, oldest first (at most LATENCIES_KEPT)."""
        return self._latency_ms.values()

    def scorer(self, modality: Modality) -> Scorer:
        """The scorer that judges a sense's samples (for tools that time it alone)."""
        return self._channels[modality].scorer

    def bundles_changed(self, bundles: Mapping[str, str]) -> None:
        """The signed bundles in use for this device: in its health when they changed."""
        self._health.set_bundles(bundles)

    def storage_changed(self, status: StorageStatus) -> None:
        """The agent's disk was measured: shown in health when its state (or free MB) changed."""
        self._health.set_storage(status)

    def carry_on(self, previous: DevicePipeline) -> None:
        """Take over the open alarm of the pipeline this one replaces (same id, raised_at),
        and its calibration check when both judge by the same learned version and senses. A
        learning under way goes on: started again, for its whole duration, on this config's
        senses (what it gathered was for the old ones), with its reason."""
        self._decider.tracker.active = previous._decider.tracker.active
        same = (previous._learned_version, previous._learned_senses)
        if (
            self._learned_version is not None
            and (self._learned_version, self._learned_senses) == same
        ):
            self._check = previous._check
        learning = previous._learning
        if learning is not None and self._learning is None:
            self.relearn(learning.reason, learning.duration_s)

    def restore(self, alarm: Alarm) -> None:
        """Start with the alarm a previous run left open (`restored`: the first decision this
        run judges continues it with an `updated` or clears it with reason `restart`)."""
        self._decider.tracker.active = alarm

    def close_alarm(self, reason: ClearReason, now: float | None = None) -> Alarm | None:
        """Clear the open alarm, if any, for `reason` (the device is going away); the alarm."""
        now = time.time() if now is None else now
        decision = self._last_decision or self._decider.fuse(
            now, self._health.unavailable(), self._calibration()
        )
        transition = self._decider.tracker.close(decision, now, reason)
        if transition is None:
            return None
        self._emit(transition)
        return transition.alarm

    def _start_from(self, store: LearnedStore) -> None:
        """Use the learned version in use; with none, learn first if the config says so."""
        try:
            card = store.card(self.device)
        except StoreError as exc:  # a damaged card: said, and the device learns anew
            log.error("learned version unusable", extra={"fields": {
                "device": self.device, "error": str(exc)}})  # fmt: skip
            card = None
        if card is not None:
            self._apply(card, store)
        elif self.config.learning.enabled:
            self._learning = DeviceLearning(self.config, "first run")

    def _apply(self, card: Card, store: LearnedStore) -> None:
        """Score with what the card holds, and fuse calibrated scores for its target."""
        scorers = learned_scorers(self.config, card, store)
        for sense, scorer in scorers.items():
            self._channels[sense] = Channel(self._channels[sense].source, scorer)
        rule = device_rule(calibrated_fusion(card), self._fusion_model) if scorers else None
        self._calibrated = rule
        self._learned_version = card.version
        self._learned_about = (card.learned_at, card.reason)
        self._learned_senses = frozenset(scorers)
        # counted anew for each version put in use (or on from where a stop left it), every
        # learned sense shown from the start
        self._check = self._resumed_check(store, card.version, [str(s) for s in scorers])

    def _resumed_check(self, store: LearnedStore, version: int, senses: list[str]) -> LastDay:
        """The version's calibration check as the last run kept it, else a new one."""
        now = time.time()
        try:
            saved = store.saved_check(self.device, version)
        except StoreError as exc:  # a damaged file: said, and counted anew
            log.warning("calibration check not resumed", extra={"fields": {
                "device": self.device, "error": str(exc)}})  # fmt: skip
            saved = None
        if saved is None or not senses:
            return LastDay(senses, now)
        return LastDay.resumed(senses, saved.model_dump(), now)

    def _check_to_keep(self) -> tuple[LearnedStore, int, SavedCheck] | None:
        """Where, for which learned version, and the check as a restart should find them;
        None when the device judges by no learned version."""
        if self._store is None or self._learned_version is None or not self._learned_senses:
            return None
        saved = SavedCheck(saved_at=time.time(), **self._check.saved())
        return self._store, self._learned_version, saved

    def _keep_check(self, store: LearnedStore, version: int, saved: SavedCheck) -> None:
        """Write the check beside its version; a disk that refuses is logged, not raised."""
        try:
            store.save_check(self.device, version, saved)
        except OSError as exc:
            log.warning("calibration check not kept", extra={"fields": {
                "device": self.device, "error": str(exc)}})  # fmt: skip

    def relearn(self, reason: str, duration_s: float | None = None) -> bool:
        """Learn this machine's normal anew (after maintenance); False without a store."""
        if self._store is None:
            return False
        self._learning = DeviceLearning(self.config, reason, duration_s)
        self._decider.scores.clear()  # scored on the old scale
        fields = {"device": self.device, "reason": reason, "duration_s": self._learning.duration_s}
        log.info("learning started", extra={"fields": fields})
        self.decide()
        return True

    def roll_back(self, reason: str) -> int:
        """Judge by the version learned before the one in use (a relearn that learned the
        wrong normal); a learning in progress stops. The version now in use; StoreError,
        changing nothing, when there is no earlier one."""
        if self._store is None or self._learned_version is None:
            raise StoreError(f"{self.device}: judges by no learned version: nothing to roll back")
        card = self._store.rollback(self.device, before=self._learned_version)
        self._learning = None
        self._apply(card, self._store)
        self._decider.scores.clear()  # scored on the other version's scale
        log.info("learned version rolled back", extra={"fields": {
            "device": self.device, "version": card.version, "reason": reason}})  # fmt: skip
        self.decide()
        return card.version

    async def _finish_learning(self, learning: DeviceLearning, store: LearnedStore) -> None:
        """Learn, save as a new version and use it; refused, start over and say why."""
        saved, reasons = await asyncio.to_thread(finish_and_save, learning, store)
        if saved is None:
            log.warning("learning refused", extra={"fields": {
                "device": self.device, "reasons": reasons}})  # fmt: skip
            if self._learning is learning:
                self._learning = learning.restarted(reasons)
            return
        if self._learning is not learning:  # a relearn or a rollback asked for meanwhile:
            self._point_at_version_in_use(store)  # a restart must find what it judges by
            return
        self._apply(saved, store)
        self._learning = None
        self._decider.scores.clear()
        fields = {"device": self.device, "version": saved.version, "threshold": saved.threshold}
        log.info("learned", extra={"fields": fields})

    def _point_at_version_in_use(self, store: LearnedStore) -> None:
        """The store's version in use back to the one this device judges by (a learning that
        finished after it was superseded saved and pointed at its own)."""
        try:
            store.use(self.device, self._learned_version)
        except StoreError as exc:  # that version was pruned meanwhile: said
            log.warning("learned version in use not kept", extra={"fields": {
                "device": self.device, "error": str(exc)}})  # fmt: skip

    async def run(self) -> None:
        """Supervise every source and re-decide once a second (staleness, alarm hold)."""
        self._decider.started_at = time.time()
        self._health_changed()  # every source starting: subscribers see the device exists
        observe.scope(self.device, "")
        try:
            async with asyncio.TaskGroup() as group:
                for modality, channel in self._channels.items():
                    group.create_task(
                        self._supervise(modality, channel), name=f"{self.device}/{modality}"
                    )
                group.create_task(self._tick(), name=f"{self.device}/tick")
        finally:  # a stop (or a reload replacing the device) keeps the check for the next run
            if kept := self._check_to_keep():
                self._keep_check(*kept)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                learning = self._learning
                if learning is not None and self._store is not None and learning.ready():
                    await self._finish_learning(learning, self._store)
                self.decide()
                if time.monotonic() - self._check_kept_at >= CHECK_KEPT_EVERY_S:
                    self._check_kept_at = time.monotonic()
                    if kept := self._check_to_keep():
                        await asyncio.to_thread(self._keep_check, *kept)
            except Exception:  # a bug here must not end the device's other tasks
                log.exception("decision failed", extra={"fields": {"device": self.device}})

    async def _supervise(self, modality: Modality, channel: Channel) -> None:
        """Run a source; when it fails, mark it so and reopen it after a growing, jittered wait."""
        backoff = Backoff(RETRY_FIRST_S, RETRY_MAX_S)
        observe.scope(self.device, str(modality))
        while True:
            raise_lost_cancellation()  # lost in a source that failed, the retry must not start
            try:
                async with contextlib.aclosing(channel.source.stream()) as samples:
                    last_index = None
                    async for sample in samples:
                        raise_lost_cancellation()  # e.g. pymodbus's wait_for on Python 3.11
                        observe.sample(observe.frames_skipped(last_index, sample.meta))
                        last_index = sample.meta.get("frame_index")
                        if degraded := sample.meta.get("degraded"):  # delivers, not as asked
                            self._health.set_source(modality, "degraded", str(degraded))
                        else:
                            self._health.set_source(modality, "ok")
                        backoff.reset()
                        await self._score(modality, sample)
                self._health.set_source(modality, "ended", "input ended")
                return
            except SourceError as exc:
                self._health.set_source(modality, "failed", str(exc))
            except Exception as exc:  # a bug in one source must not take the device down
                log.exception("source crashed", extra={"fields": self._fields(modality)})
                self._health.set_source(modality, "failed", f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(backoff.next_delay())

    async def _score(self, modality: Modality, sample: Sample) -> None:
        learning = self._learning
        try:
            with observe.timed(observe.Stage.SCORE):
                if learning is not None and modality in learning.learners:
                    score = await asyncio.to_thread(learning.observe, modality, sample)
                else:
                    score = await asyncio.to_thread(self._channels[modality].scorer.score, sample)
        except Exception as exc:  # a model that raises is isolated to its modality
            if self._health.models[modality].state == "ok":
                log.exception("scorer failed", extra={"fields": self._fields(modality)})
            self._health.set_model(modality, "failed", f"scorer error: {type(exc).__name__}: {exc}")
            return
        self._health.set_model(modality, "ok")
        self._processed[modality] += 1
        if score is None:
            return
        if self._counts_as_healthy(learning, modality, score):
            self._count_for_check(modality, score.value)
        self._decider.scores[modality] = score
        self._hand_on("remember", self._sink.remember, sample)
        async with self._scored:
            self._scored.notify_all()
        decision = self.decide(trigger=modality)
        latency_s = decision.decided_at - sample.captured_at
        self._latency_ms.append(latency_s * 1000.0)
        observe.decision(self.device, latency_s)
        try:
            await self._sink.snapshot(sample, score)
        except Exception:  # the sink's fault, not the source's: the source goes on
            log.exception("sink failed: snapshot", extra={"fields": self._fields(modality)})

    def _counts_as_healthy(
        self, learning: DeviceLearning | None, modality: Modality, score: Score
    ) -> bool:
        """A learned sense's calibrated judgement made while no alarm is open: healthy time,
        as far as the device knows, which the calibration check counts."""
        learned = learning is None and modality in self._learned_senses
        return learned and judged(score) and self._decider.tracker.active is None

    def _count_for_check(self, modality: Modality, value: float) -> None:
        """Count a healthy calibrated score; a verdict that changes is logged (journald): a
        `higher` one is what an operator should look at."""
        verdict = self._check.add(str(modality), value, time.time())
        if verdict is None:
            return
        check = self._check.total.senses[str(modality)]
        ratios = {f"1e-{lv['decades']}": lv["ratio"] for lv in check.view()["levels"]}
        fields = {**self._fields(modality), "verdict": verdict, "judged": check.judged,
                  "times_promised": ratios}  # fmt: skip
        if verdict == "higher":
            log.warning("calibration check: rare scores far more often than its learned normal "
                        "promised (a fault growing below the threshold, or a new normal to "
                        "learn)", extra={"fields": fields})  # fmt: skip
        else:
            log.info(f"calibration check: {verdict}", extra={"fields": fields})

    def _hand_on(self, what: str, call: Callable[..., None], *args: Any) -> bool:
        """Call the sink; an exception there (a full disk, a bug) is logged, never raised
        into the pipeline, whose sources, states and health must go on."""
        try:
            call(*args)
        except Exception:
            log.exception(f"sink failed: {what}", extra={"fields": {"device": self.device}})
            return False
        return True

    def _health_changed(self) -> None:
        """Publish the new health (retained) and re-decide: fusion drops what is unavailable."""
        payload = encode(self._health.payload())
        self._hand_on("health", self._sink.retain, self._topics.health(self.device), payload)
        self.decide()

    def _fields(self, modality: Modality) -> dict[str, str]:
        return {"device": self.device, "modality": str(modality)}

    def decide(self, now: float | None = None, trigger: Modality | None = None) -> Decision:
        """Fuse the latest scores, advance the alarm lifecycle, and publish what changed;
        `trigger` is the sense whose new score prompts it (None: the clock or health)."""
        now = time.time() if now is None else now
        with observe.timed(observe.Stage.FUSION):
            decision, transition = self._decider.decide(
                now, self._health.unavailable(), self._calibration(), trigger
            )
        self._last_decision = decision
        if transition is not None:
            self._emit(transition)
        self._publish_state(decision, now)
        return decision

    def _calibration(self) -> CalibratedRule | None:
        """The calibrated fusion of what the device learned; none while it learns."""
        return self._calibrated if self._learning is None else None

    def _emit(self, transition: AlarmTransition) -> None:
        payload = alarm_payload(transition, self._topics.site, self.config.location)
        topic = self._topics.alarm(self.device)
        self._hand_on("alarm", self._sink.alarm, transition, topic, payload)
        observe.alarm_event(self.device, transition.event)
        fields = {
            "device": self.device,
            "alarm_id": transition.alarm.id,
            "seq": transition.seq,
            "type": transition.alarm.type,
            "severity": transition.alarm.severity,
            "score": round(transition.decision.score, 3),
            "rule": transition.decision.rule,
        }
        if transition.reason is not None:
            fields["reason"] = str(transition.reason)
        log.info(f"alarm {transition.event}", extra={"fields": fields})

    def _publish_state(self, decision: Decision, now: float) -> None:
        """Publish the state when its state word, alarm or health changed, else once every
        STATE_EVERY_S; the payload is built only then (this runs at every decision)."""
        active = self._decider.tracker.active
        alarm_id = active.id if active else None
        health = self._health.summary()
        key = f"{device_state(decision, alarm_id, self._learning is not None)}|{alarm_id}|{health}"
        last_key, last_at = self._last_state
        if key == last_key and 0.0 <= now - last_at < STATE_EVERY_S:  # a clock set back: now
            return
        self._last_state = (key, now)
        learning = self._learning.status(now).payload() if self._learning is not None else None
        check = None
        if self._learned_senses and learning is None:
            counted = self._check.view(now)
            check = {**counted, "since": iso(counted["since"])}
        state = state_payload(
            decision,
            alarm_id,
            health,
            readings(decision.scores),
            learning,
            self._learned_version,
            check,
            self._learned_about,
        )
        self._hand_on("state", self._sink.retain, self._topics.state(self.device), encode(state))

    async def fresh_scores(self, after: float, timeout_s: float) -> list[Modality]:
        """Wait until every live modality has a score captured after `after`; return the missing."""

        def missing() -> list[Modality]:
            return [
                m
                for m in self._channels
                if self._health.sources[m].state != "ended"
                and (m not in self._decider.scores or self._decider.scores[m].captured_at < after)
            ]

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s), self._scored:
                await self._scored.wait_for(lambda: not missing())
        return missing()
