"""The image sense: an RGB camera judged by the YOLOv8 defect detector."""

from agent.senses.image.config import SENSE, CameraConfig
from agent.senses.image.evidence import annotated_jpeg
from agent.senses.image.learn import ImageLearner
from agent.senses.image.learned import LearnedDetectorScorer
from agent.senses.image.scorer import DetectorScorer
from agent.senses.image.source import CameraSource
from agent.senses.learning import LearningSpec
from agent.senses.spec import EvidenceSpec, SenseSpec

IMAGE = SenseSpec(
    name=SENSE,
    title="camera",
    source_key="camera",
    config=CameraConfig,
    source=CameraSource,
    scorer=DetectorScorer,
    evidence=EvidenceSpec("image", "image/jpeg", ".jpg", annotated_jpeg, snapshot=True),
    default_weight=0.4,
    colour="#4fc3f7",
    learning=LearningSpec(learner=ImageLearner, scorer=LearnedDetectorScorer),
)
