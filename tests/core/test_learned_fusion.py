"""Learned fusion: its evidence and contributions by hand, its file read as untrusted input,
and its place in `fuse` (rule, threshold, degraded senses, contributions in the payload)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from agent.config.decision import FusionConfig
from agent.core.calibration import CalibratedFusion
from agent.core.fusion import fuse
from agent.core.learned_fusion import ALONE_TERM, FusionModel, LearnedFusion
from agent.core.payload import modalities_view
from agent.core.samples import Score
from agent.inference.session import ModelError
from agent.learning.fusion_file import MAX_FILE_BYTES, read_fusion_model
from agent.learning.scorers import fusion_model

# two senses sharing the samples evenly: each alone alarms at exceedance 1e-6
CALIBRATION = CalibratedFusion(threshold=1.0 - 1e-6, shares={"audio": 1.0, "sensor": 1.0})


def model_document(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "format": "edge-agent-fusion/1",
        "version": "1.0.0",
        "knots_decades": [-2.0, 0.0],
        "cap_decades": 6.0,
        "bias": -4.0,
        "threshold": 0.5,
        "senses": {
            "audio": {"weights": [1.0, 1.0], "present": 0.5},
            "sensor": {"weights": [0.5, 0.0], "present": 0.0},
        },
    }
    return {**document, **changes}


def learned(**changes: Any) -> LearnedFusion:
    return LearnedFusion(FusionModel.model_validate(model_document(**changes)), CALIBRATION)


def rarer(decades: float) -> float:
    """The calibrated score `decades` decades rarer than a sense's threshold (1e-6)."""
    return 1.0 - 1e-6 * 10.0 ** (-decades)


def test_evidence_counts_decades_past_the_senses_own_threshold_and_is_capped() -> None:
    rule = learned()
    assert rule.evidence("audio", rarer(0.0)) == pytest.approx(0.0, abs=1e-9)
    assert rule.evidence("audio", rarer(-3.0)) == pytest.approx(-3.0)
    assert rule.evidence("audio", rarer(2.5)) == pytest.approx(2.5)
    assert rule.evidence("audio", 1.0) == 6.0  # certain: capped, not infinite


def test_contribution_bends_at_the_knots_and_never_falls() -> None:
    rule = learned()
    # audio: 0.5 present, then +1 per decade past -2, +1 more per decade past 0
    assert rule.contribution("audio", rarer(-5.0)) == pytest.approx(0.5)
    assert rule.contribution("audio", rarer(-1.0)) == pytest.approx(1.5)
    assert rule.contribution("audio", rarer(2.0)) == pytest.approx(0.5 + 4.0 + 2.0)
    assert rule.contribution("image", 1.0) == 0.0  # a sense the model does not know adds nothing
    values = [rule.contribution("sensor", rarer(d / 4)) for d in range(-40, 40)]
    assert values == sorted(values)


def test_fused_is_the_sigmoid_of_bias_plus_contributions_and_names_the_largest() -> None:
    rule = learned()
    score, top = rule.fused({"audio": rarer(1.0), "sensor": rarer(0.0)})
    logit = -4.0 + (0.5 + 3.0 + 1.0) + (0.0 + 1.0)
    assert score == pytest.approx(1.0 / (1.0 + math.exp(-logit)))
    assert top == "audio"
    assert rule.fused({}) == (0.0, None)
    assert rule.fused({"audio": 1.0})[0] <= 1.0  # a huge logit does not overflow


def test_degraded_threshold_multiplies_the_odds() -> None:
    rule = learned(threshold=0.5)
    assert rule.degraded_threshold(100.0) == pytest.approx(100.0 / 101.0)
    assert 1.0 - CALIBRATION.degraded_threshold(100.0) == pytest.approx(1e-8)  # odds, not 1e-6


def score(sense: str, value: float) -> Score:
    return Score("pump-01", sense, value, sense, {}, 100.0, 100.0)


def test_fuse_decides_by_the_learned_rule_and_shows_each_contribution() -> None:
    rule = learned()
    config = FusionConfig(weights={"audio": 0.5, "sensor": 0.5})
    scores = {"audio": score("audio", rarer(1.0)), "sensor": score("sensor", rarer(-6.0))}
    decision = fuse("pump-01", scores, config, ["audio", "sensor"], 100.0, calibrated=rule)
    assert decision.alarm and decision.rule == "learned" and decision.threshold == 0.5
    assert decision.type == "audio"
    view = modalities_view(decision)
    assert view["audio"]["contribution"] == pytest.approx(4.5, abs=1e-4)
    assert view["sensor"]["contribution"] == 0.0

    quiet = {"audio": score("audio", rarer(-4.0)), "sensor": score("sensor", rarer(-4.0))}
    decision = fuse("pump-01", quiet, config, ["audio", "sensor"], 100.0, calibrated=rule)
    assert not decision.alarm and decision.rule == "none"


def test_one_sense_left_alarms_only_at_the_degraded_threshold() -> None:
    rule = learned()
    config = FusionConfig(weights={"audio": 0.5, "sensor": 0.5})
    alone = {"audio": score("audio", rarer(1.0))}  # p = sigmoid(0.5) = 0.62: over 0.5
    decision = fuse("pump-01", alone, config, ["audio", "sensor"], 100.0, calibrated=rule)
    assert decision.rule == "degraded" and not decision.alarm
    assert decision.threshold == pytest.approx(rule.degraded_threshold(100.0))
    far = {"audio": score("audio", 1.0)}  # capped at 6 decades: logit 10.5, odds 36,000
    decision = fuse("pump-01", far, config, ["audio", "sensor"], 100.0, calibrated=rule)
    assert decision.alarm and decision.rule == "learned"


def test_a_sense_at_its_alone_level_alarms_alone_even_degraded() -> None:
    rule = learned(senses={
        "audio": {"weights": [1.0, 1.0], "present": 0.5},
        "sensor": {"weights": [0.5, 0.0], "present": 0.0, "alone_decades": 4.0},
    })  # fmt: skip
    below = rule.contribution("sensor", rarer(3.9))
    assert below == pytest.approx(0.5 * 5.9)
    assert rule.contribution("sensor", rarer(4.01)) == pytest.approx(0.5 * 6.01 + ALONE_TERM)
    config = FusionConfig(weights={"audio": 0.5, "sensor": 0.5})
    alone = {"sensor": score("sensor", rarer(3.9))}  # logit -4 + 2.95: not even the usual 0.5
    decision = fuse("pump-01", alone, config, ["audio", "sensor"], 100.0, calibrated=rule)
    assert not decision.alarm and decision.rule == "none"
    alone = {"sensor": score("sensor", rarer(4.5))}
    decision = fuse("pump-01", alone, config, ["audio", "sensor"], 100.0, calibrated=rule)
    assert decision.alarm and decision.rule == "learned" and decision.type == "sensor"
    assert decision.threshold == pytest.approx(rule.degraded_threshold(100.0))
    assert decision.modalities["sensor"].contribution == pytest.approx(0.5 * 6.5 + ALONE_TERM)


def test_the_calibrated_rule_shows_each_senses_fused_score_alone() -> None:
    config = FusionConfig(weights={"audio": 0.5, "sensor": 0.5})
    scores = {"audio": score("audio", rarer(1.0)), "sensor": score("sensor", rarer(-1.0))}
    decision = fuse("pump-01", scores, config, ["audio", "sensor"], 100.0, calibrated=CALIBRATION)
    assert decision.rule == "calibrated"
    assert decision.modalities["audio"].contribution == pytest.approx(decision.score)
    assert decision.modalities["sensor"].contribution == pytest.approx(1.0 - 1e-5)


def write(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"format": "other/1"}, "format"),
        ({"version": "one"}, "version"),
        ({"threshold": 1.0}, "threshold"),
        ({"bias": float("nan")}, "bias"),
        ({"knots_decades": [0.0, -2.0]}, "knots_decades must rise"),
        ({"senses": {"audio": {"weights": [1.0]}}}, "senses.audio.weights: one per knot"),
        ({"senses": {"audio": {"weights": [-1.0, 0.0]}}}, "senses.audio.weights.0"),
        ({"senses": {"audio": {"weights": [1.0, 1.0], "gain": 2}}}, "senses.audio.gain"),
        ({"knots_decades": list(range(9))}, "knots_decades"),
        (
            {"senses": {"audio": {"weights": [1.0, 1.0], "alone_decades": 7.0}}},
            "senses.audio.alone_decades: at most cap_decades",
        ),
    ],
)
def test_a_bad_file_is_refused_naming_the_field(
    tmp_path: Path, changes: dict[str, Any], named: str
) -> None:
    path = write(tmp_path / "fusion.json", model_document(**changes))
    with pytest.raises(ValueError, match=named):
        read_fusion_model(path)


def test_a_file_that_is_not_json_or_too_large_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bytes.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(ValueError, match="not JSON"):
        read_fusion_model(tmp_path / "bytes.json")
    (tmp_path / "deep.json").write_text("[" * 100_000)
    with pytest.raises(ValueError, match="nested deeper than 8"):
        read_fusion_model(tmp_path / "deep.json")
    (tmp_path / "big.json").write_text(" " * (MAX_FILE_BYTES + 1))
    with pytest.raises(ValueError, match="at most"):
        read_fusion_model(tmp_path / "big.json")


def test_the_device_refuses_a_fusion_file_its_manifest_does_not_vouch_for(tmp_path: Path) -> None:
    path = write(tmp_path / "fusion.json", model_document())
    config = FusionConfig(mode="learned", model=path)
    assert fusion_model(config) == read_fusion_model(path)
    (tmp_path / "MANIFEST").write_text(f"{'0' * 64}  1.0.0  fusion.json\n")
    with pytest.raises(ModelError, match=r"fusion.model: .*does not match MANIFEST"):
        fusion_model(config)
    (tmp_path / "MANIFEST").unlink()
    write(path, model_document(threshold=2))
    with pytest.raises(ModelError, match=r"fusion.model: .*threshold"):
        fusion_model(config)
    assert fusion_model(FusionConfig()) is None
