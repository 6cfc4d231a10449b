"""A preset: the model's sizes (``[model]``, ``models.config.ModelConfig``) and the training schedule with its
loss weights (``[train]``, ``TrainConfig``), read from TOML.

A preset is data (``tomllib``), never code. ``fast``, ``balanced`` and ``quality`` ship inside the package
(``s2l_model/presets/``, read with ``importlib.resources``, so an installed wheel has them); a user's file may
start with ``extends = "fast"`` and override single keys, which is also how the ablations are run. Unknown
keys are refused: a typo must not silently fall back to a default.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from s2l_model.configs import from_table, merge_tables
from s2l_model.errors import InputError
from s2l_model.models.config import ModelConfig
from s2l_model.models.losses import LossWeights

PRESET_NAMES = ("fast", "balanced", "quality")


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 2000
    batch_frames: int = 4  # frames per step through composition and Blend-Net
    lip_batch_frames: int = 4  # frames per step for the lip loss (Eq. 7); the first batch_frames are composed
    learning_rate: float = 1e-3
    final_learning_rate: float = 1e-4  # cosine decay to this
    budget_minutes: float = 10.0  # the training stage's own cap (the build's --budget caps everything)
    sync_expert_steps: int = 300
    sync_expert_batch: int = 64
    sync_start: float = 0.3  # fraction of the steps after which the sync loss joins
    sync_batch: int = 4  # sync windows per step once it has joined
    continuous_sampling: bool = True
    blend_net: bool = True
    sync_loss: bool = True
    learn_depth: bool = True
    motion_weight: float = 2.0  # lip loss weight of speech-moved pixels (dataset.batches.motion_weight)
    hole_probability: float = 0.5  # Sec. 4.3 black-hole augmentation, per training sample
    hole_ratio: float = 0.5
    perceptual_every: int = 1  # the ST-LPIPS terms every k-th step (CPU time)
    perceptual_max_side: int = 0  # the face term's ST-LPIPS on crops shrunk to this size (0: full size)
    # the mouth stage (speech → mouth code; ``drive = "mouth"`` only)
    mouth_steps: int = 1500
    mouth_batch: int = 32  # runs of consecutive frames per step
    mouth_sequence: int = 8  # frames per run (the velocity and sync terms look along it)
    mouth_learning_rate: float = 2e-3
    mouth_augment: bool = True  # also train on augmented copies of the training speech
    mouth_calibrate: bool = True  # fit the codes' amplitude on the calibration slice
    appearance_init: bool = True  # start the appearance basis from a least-squares fit (else at zero)
    fitted_learning_rate_scale: float = 0.1  # … and then train it and the base image at this × the rate
    code_noise: float = 0.15  # noise on the true codes the lip field trains on (in code standard deviations)
    checkpoint_seconds: float = 60.0
    heldout_every_seconds: float = 30.0
    loss: LossWeights = field(default_factory=LossWeights)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Preset:
    name: str
    model: ModelConfig
    train: TrainConfig

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.model.to_dict(), "train": self.train.to_dict()}


def shipped_preset(name: str) -> Traversable:
    """The TOML file of a preset that ships with s2l (``PRESET_NAMES``)."""
    return files("s2l_model").joinpath("presets", f"{name}.toml")


def _read_toml(source: Traversable | Path, label: str, depth: int = 0) -> dict[str, Any]:
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read preset {label}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"preset {label} is not valid TOML: {exc}") from None
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if depth > 4:
        raise InputError(f"preset {label}: 'extends' chain is too long")
    base = _read_toml(*_preset_source(str(parent)), depth + 1)
    base.pop("name", None)  # a preset that extends another is named after itself
    return merge_tables(base, data)


def _preset_source(name_or_file: str) -> tuple[Traversable | Path, str]:
    """The file of a shipped preset's name or of a user's ``.toml`` path, and how errors name it."""
    if name_or_file in PRESET_NAMES:
        return shipped_preset(name_or_file), name_or_file
    path = Path(name_or_file)
    if path.suffix != ".toml":
        raise InputError(f"unknown preset {name_or_file!r}: use {', '.join(PRESET_NAMES)} or a .toml file")
    if not path.is_file():
        raise InputError(f"preset file not found: {path}")
    return path, str(path)


def load_preset(name_or_file: str) -> Preset:
    """A shipped preset by name, or a user's TOML file (which may ``extends`` a shipped one)."""
    source, label = _preset_source(name_or_file)
    data = _read_toml(source, label)
    unknown = set(data) - {"model", "train", "name"}
    if unknown:
        raise InputError(
            f"preset {label}: unknown section(s) {', '.join(sorted(unknown))} (use [model], [train])"
        )
    where = f"preset {label}"
    return Preset(
        name=str(data.get("name", Path(source.name).stem)),
        model=from_table(ModelConfig, data.get("model", {}), where, "model"),
        train=from_table(TrainConfig, data.get("train", {}), where, "train"),
    )
