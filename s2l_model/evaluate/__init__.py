"""Evaluation: the paper's metrics on a prediction against its truth, or on a prediction alone."""

from s2l_model.evaluate.compare import EvaluateConfig, Evaluation, WorstFrame, evaluate_videos
from s2l_model.evaluate.heldout import FrameRenderer, evaluate_heldout

__all__ = [
    "EvaluateConfig",
    "Evaluation",
    "FrameRenderer",
    "WorstFrame",
    "evaluate_heldout",
    "evaluate_videos",
]
