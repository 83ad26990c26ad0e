"""A device's scorers built from what it learned, and the fusion that goes with them."""

from __future__ import annotations

import logging

from agent.config.device import DeviceConfig
from agent.core.calibration import CalibratedFusion
from agent.core.samples import Modality
from agent.learning.store import Card, LearnedStore
from agent.senses.registry import SENSES
from agent.senses.scorer import Scorer

log = logging.getLogger(__name__)


def learned_scorers(
    device: DeviceConfig, card: Card, store: LearnedStore
) -> dict[Modality, Scorer]:
    """A calibrated scorer for each configured sense the card holds.

    A sense the card lacks (added since), or whose learned scorer cannot be built from the
    current config (a register map that changed), is left to its shipped scorer and logged:
    relearning brings it in.
    """
    scorers: dict[Modality, Scorer] = {}
    folder = store.folder(device.id, card.version)
    for sense, section in device.sources.configured().items():
        spec = SENSES[sense].learning
        if spec is None or sense not in card.senses:
            if spec is not None:
                log.warning("sense not learned: relearn to calibrate it",
                            extra={"fields": {"device": device.id, "modality": sense}})  # fmt: skip
            continue
        try:
            scorers[sense] = spec.scorer(device.id, section, card.learned(sense), folder / sense)
        except Exception as exc:  # one sense's stale artefact must not stop the device
            fields = {
                "device": device.id,
                "modality": sense,
                "error": f"{type(exc).__name__}: {exc}",
            }
            log.warning("learned scorer not built: shipped scorer used", extra={"fields": fields})
    return scorers


def calibrated_fusion(card: Card) -> CalibratedFusion:
    """The fusion the card's target and the senses' learned rates ask for."""
    return CalibratedFusion.for_target(card.target_false_alarms_per_day, card.rates_hz())
