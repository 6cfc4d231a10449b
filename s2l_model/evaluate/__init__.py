"""Evaluation: the paper's metrics on a prediction against its truth, or on a prediction alone."""

from s2l_model.evaluate.compare import EvaluateConfig, Evaluation, WorstFrame, evaluate_videos

__all__ = ["EvaluateConfig", "Evaluation", "WorstFrame", "evaluate_videos"]
