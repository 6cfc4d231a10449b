"""The training set: a prepared video cut into what the networks learn from (canonical lips, observed crops,
speech windows), stored as plain arrays in the work folder."""

from s2l_model.dataset.trainset import TrainingSet, build_training_set, load_training_set

__all__ = ["TrainingSet", "build_training_set", "load_training_set"]
