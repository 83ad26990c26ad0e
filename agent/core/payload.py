"""JSON payloads published on MQTT: the alarm contract and the retained device state."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from agent import __version__
from agent.config.decision import LocationConfig
from agent.core.alarms import Alarm, AlarmEvent, AlarmTransition, ClearReason
from agent.core.fusion import Decision, Trigger


def iso(ts: float | None) -> str | None:
    """UTC ISO-8601 with milliseconds, the one timestamp format on the wire."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def modalities_view(decision: Decision) -> dict[str, dict[str, Any]]:
    """Per-modality score, effective weight, contribution, staleness and (once learned) the
    sense's own calibrated threshold, as subscribers see them."""
    return {
        str(m): {
            "score": shown(v.score, decision),
            "weight": round(v.effective_weight, 4),
            "contribution": None if v.contribution is None else round(v.contribution, 4),
            "configured_weight": v.weight,
            "stale": v.stale,
            "label": v.label,
            "reason": v.reason,
            "threshold": v.threshold,
        }
        for m, v in decision.modalities.items()
    }


def from_learned_device(message: dict[str, Any]) -> bool:
    """A state or alarm payload (as read back) of a device that has learned its own normal:
    its senses carry their calibrated thresholds (`modalities_view`)."""
    modalities = message.get("modalities")
    if not isinstance(modalities, dict):
        return False
    return any(isinstance(v, dict) and v.get("threshold") is not None for v in modalities.values())


def shown(score: float | None, decision: Decision) -> float | None:
    """A score as published: to 4 places, but a calibrated one whole, since its meaning is in
    the nines (0.99999 is about a healthy day at one sample a second, 0.9999999999 a fault,
    and both round to 1.0)."""
    if score is None or decision.calibrated:
        return score
    return round(score, 4)


def alarm_payload(
    transition: AlarmTransition, site: str, location: LocationConfig
) -> dict[str, Any]:
    """The alarm message; top-level keys are a contract (see agent/schemas/alarm.schema.json)."""
    decision, alarm = transition.decision, transition.alarm
    trigger = decision.trigger
    latency = None
    if trigger is not None:
        latency = round((decision.decided_at - trigger.captured_at) * 1000.0, 1)
    reason = {} if transition.reason is None else {"reason": str(transition.reason)}
    return {
        "id": alarm.id,
        "seq": transition.seq,
        "event": str(transition.event),
        "site": site,
        "device": alarm.device,
        "location": location.model_dump(),
        "type": alarm.type,
        "severity": alarm.severity,
        "score": shown(decision.score, decision),
        "threshold": decision.threshold,
        "modalities": modalities_view(decision),
        "present": list(decision.present),
        "rule": decision.rule,
        "evidence": {str(m): s.evidence for m, s in decision.scores.items()},
        "captured_at": iso(decision.captured_at),
        "trigger": trigger_view(trigger),
        "decided_at": iso(decision.decided_at),
        "raised_at": iso(alarm.raised_at),
        "latency_ms": latency,
        "models": {str(m): s.model for m, s in decision.scores.items() if s.model},
        "agent_version": __version__,
        **reason,
    }


def trigger_view(trigger: Trigger | None) -> dict[str, str | None] | None:
    """The sample that prompted the decision, as subscribers see it."""
    if trigger is None:
        return None
    return {"modality": str(trigger.modality), "captured_at": iso(trigger.captured_at)}


def restored_alarm(last: dict[str, Any]) -> Alarm:
    """The open alarm an event payload (its latest raised/updated) describes, for a new run."""
    decided_at = epoch(last["decided_at"])
    return Alarm(
        id=str(last["id"]),
        device=str(last["device"]),
        raised_at=epoch(last.get("raised_at") or last["decided_at"]),
        type=str(last["type"]),
        severity=str(last["severity"]),
        score=float(last["score"]),
        last_event_at=decided_at,
        restored=True,
    )


def cleared_payload(
    last: dict[str, Any], seq: int, now: float, reason: ClearReason
) -> dict[str, Any]:
    """A `cleared` event for an alarm known only by its last payload (its device is gone):
    what it last said, cleared now for `reason`; no samples stand behind it."""
    kept = {k: v for k, v in last.items() if k not in ("evidence_files", "replayed")}
    return {
        **kept,
        "seq": seq,
        "event": str(AlarmEvent.CLEARED),
        "captured_at": None,
        "trigger": None,
        "decided_at": iso(now),
        "latency_ms": None,
        "agent_version": __version__,
        "reason": str(reason),
    }


def epoch(timestamp: Any) -> float:
    """Seconds since the epoch of a timestamp written by `iso`."""
    return datetime.fromisoformat(str(timestamp).replace("Z", "+00:00")).timestamp()


def device_state(decision: Decision, alarm_id: str | None, learning: bool) -> str:
    """The word a state leads with: `alarm` while one is open, `learning` while the device
    learns its own normal, `degraded` with a sense gone stale, else `ok`."""
    degraded = any(v.stale for v in decision.modalities.values())
    return "alarm" if alarm_id else "learning" if learning else "degraded" if degraded else "ok"


def state_payload(
    decision: Decision,
    alarm_id: str | None,
    health: dict[str, str],
    readings: dict[str, Any],
    learning: dict[str, Any] | None = None,
    learned_version: int | None = None,
    calibration_check: dict[str, Any] | None = None,
    learned_about: tuple[float, str] | None = None,
) -> dict[str, Any]:
    """The device's current state, published retained so a new subscriber sees it at once.

    `readings` are the raw values behind the scores that the senses chart (the registry's);
    `learning` the progress while the device learns its own normal (state `learning`: only
    hard limits alarm), `learned_version` the learned version its scores are calibrated by
    and `learned_about` when and why that version was learned (its card's `learned_at` and
    `reason`), `calibration_check` how often those scores reached rare levels over the last
    day (agent/core/calibration_check.py).
    """
    return {
        "device": decision.device,
        "state": device_state(decision, alarm_id, bool(learning)),
        "score": shown(decision.score, decision),
        "threshold": decision.threshold,
        "rule": decision.rule,
        "type": decision.type,
        "alarm_id": alarm_id,
        "modalities": modalities_view(decision),
        "present": list(decision.present),
        "health": health,
        "readings": readings,
        "learning": learning,
        "learned_version": learned_version,
        "learned_at": iso(learned_about[0]) if learned_about else None,
        "learned_reason": learned_about[1] if learned_about else None,
        "calibration_check": calibration_check,
        "updated_at": iso(decision.decided_at),
    }


def encode(payload: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON; NaN is not JSON, so it is refused rather than sent."""
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()


def with_replay_flag(payload: bytes) -> bytes:
    """The same event marked `"replayed": true`: sent again after an unconfirmed attempt."""
    return encode({**json.loads(payload), "replayed": True})
