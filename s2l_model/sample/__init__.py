"""The built-in sample speaker: a synthetic talking head with known ground truth (demo and tests)."""

from s2l_model.sample.generate import (
    SampleConfig,
    SampleOutputs,
    make_sample_speaker,
    make_sample_speech,
    read_truth_csv,
)
from s2l_model.sample.speech import SyntheticSpeech, synthesize_speech

__all__ = [
    "SampleConfig",
    "SampleOutputs",
    "SyntheticSpeech",
    "make_sample_speaker",
    "make_sample_speech",
    "read_truth_csv",
    "synthesize_speech",
]
