"""Where the networks run: ``auto`` (CUDA when torch sees a GPU, else CPU), ``cpu`` or ``cuda``."""

from __future__ import annotations

import torch

from s2l_model.errors import InputError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def choose_device(requested: str) -> torch.device:
    if requested not in DEVICE_CHOICES:
        raise InputError(f"--device must be auto, cpu or cuda, not {requested!r}")
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA GPU is available to torch on this machine")
    return torch.device(requested)
