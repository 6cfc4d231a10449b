"""Per-frame speech features: log-mel windows centred on each video frame, at any frame rate; and the
speaker-independent windows of the mouth predictor (phoneme posteriors, per-utterance log-mel, loudness)."""

from s2l_model.features.frames import (
    FeatureConfig,
    FrameFeatures,
    UtteranceStats,
    frame_features,
    utterance_stats,
)
from s2l_model.features.phonemes import PhonemeRecognizer, PosteriorStream
from s2l_model.features.speech import MelConfig, frame_centres, speech_windows

__all__ = [
    "FeatureConfig",
    "FrameFeatures",
    "MelConfig",
    "PhonemeRecognizer",
    "PosteriorStream",
    "UtteranceStats",
    "frame_centres",
    "frame_features",
    "speech_windows",
    "utterance_stats",
]
