"""A fifth sense that lives in the tests only: proof that a sense is one folder and one
registry line (tests/test_new_sense.py)."""

from agent.senses.learning import LearningSpec
from agent.senses.spec import EvidenceSpec, SenseSpec
from tests.toy_sense.config import SENSE, AccelerometerConfig
from tests.toy_sense.evidence import rms_json, rms_reading
from tests.toy_sense.learn import LearnedRmsScorer, RmsLearner
from tests.toy_sense.scorer import VibrationScorer
from tests.toy_sense.source import AccelerometerSource

VIBRATION = SenseSpec(
    name=SENSE,
    title="vibration",
    source_key="accelerometer",
    config=AccelerometerConfig,
    source=AccelerometerSource,
    scorer=VibrationScorer,
    evidence=EvidenceSpec("vibration", "application/json", ".json", rms_json),
    default_weight=0.25,
    colour="#ffd54f",
    readings=rms_reading,
    learning=LearningSpec(RmsLearner, LearnedRmsScorer),
)
