"""Per-frame speech features: log-mel windows centred on each video frame, at any frame rate."""

from s2l_model.features.speech import MelConfig, frame_centres, speech_windows

__all__ = ["MelConfig", "frame_centres", "speech_windows"]
