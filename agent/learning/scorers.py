"""A device's scorers built from what it learned, and the fusion that goes with them."""

from __future__ import annotations

import logging

from agent.config.decision import FusionConfig
from agent.config.device import DeviceConfig
from agent.core.calibration import CalibratedFusion, CalibratedRule
from agent.core.learned_fusion import FusionModel, LearnedFusion
from agent.core.samples import Modality
from agent.inference.loading import verify_against_manifest
from agent.inference.session import ModelError
from agent.learning.fusion_file import read_fusion_model
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


def device_rule(calibration: CalibratedFusion, learned: FusionModel | None) -> CalibratedRule:
    """How the device fuses its calibrated scores: the calibrated fusion, or the `learned`
    model over the senses' thresholds in it (`fusion.mode: learned`)."""
    return calibration if learned is None else LearnedFusion(learned, calibration)


def fusion_model(fusion: FusionConfig) -> FusionModel | None:
    """The learned fusion `fusion.model` names (None in `weighted` mode), checked against the
    MANIFEST beside it; a ModelError naming the field when it is not one."""
    if fusion.model is None:
        return None
    try:
        verify_against_manifest(fusion.model)
        return read_fusion_model(fusion.model)
    except (ModelError, OSError, ValueError) as exc:
        raise ModelError(f"fusion.model: {exc}") from None
