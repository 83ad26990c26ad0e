"""The audio sense: a microphone judged by the CNN-LSTM sound classifier, or by the machine's
own healthy sound once learned (the classifier then names the fault)."""

from agent.senses.audio.config import SENSE, MicrophoneConfig
from agent.senses.audio.evidence import audio_wav
from agent.senses.audio.learn import SoundLearner, learned_scorer
from agent.senses.audio.scorer import SoundScorer
from agent.senses.audio.source import MicrophoneSource
from agent.senses.learning import LearningSpec
from agent.senses.spec import EvidenceSpec, SenseSpec

AUDIO = SenseSpec(
    name=SENSE,
    title="sound",
    source_key="microphone",
    config=MicrophoneConfig,
    source=MicrophoneSource,
    scorer=SoundScorer,
    evidence=EvidenceSpec("audio", "audio/wav", ".wav", audio_wav),
    default_weight=0.2,
    colour="#ba68c8",
    learning=LearningSpec(learner=SoundLearner, scorer=learned_scorer),
)
