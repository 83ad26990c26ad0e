"""Evidence of the audio sense: the scored sound window as a WAV file."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import soundfile

from agent.core.samples import Sample, Score
from agent.senses.source import array_of


def audio_wav(samples: Sequence[Sample], score: Score, source: object) -> bytes:
    """The sound window that was scored, as 16-bit PCM WAV at its own sample rate."""
    sample = samples[-1]
    buffer = io.BytesIO()
    data = np.clip(array_of(sample), -1.0, 1.0)
    soundfile.write(buffer, data, int(sample.meta["sample_rate"]), format="WAV", subtype="PCM_16")
    return buffer.getvalue()
