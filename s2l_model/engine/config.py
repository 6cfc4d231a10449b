"""Training configuration: the model sizes, the schedule and the loss weights, read from a TOML preset.

A preset is data (``tomllib``), never code. ``presets/{fast,balanced,quality}.toml`` ship with s2l; a user's
file may start with ``extends = "fast"`` and override single keys, which is also how the ablations are run.
Unknown keys are refused: a typo must not silently fall back to a default.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s2l_model.errors import InputError
from s2l_model.models.losses import LossWeights

PRESET_DIR = Path(__file__).resolve().parents[2] / "presets"
PRESET_NAMES = ("fast", "balanced", "quality")


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the networks (stored in the profile: the renderer rebuilds the same networks)."""

    lip_width: int = 64  # training width (px) of the canonical lip image; height keeps the box's aspect
    encoding: str = "frequency"  # coordinate encoding: "frequency" (NeRF-style) or "grid" (multi-resolution)
    base_image: bool = True  # F = learned full-resolution base image (starts as the canonical lips) + MLP
    frequencies: int = 8  # frequency encoding: sin/cos at 2^0 … 2^(k-1) times pi
    grid_levels: int = 4  # grid encoding: levels from 8 cells up, doubling
    grid_features: int = 4
    mlp_depth: int = 4
    mlp_width: int = 128
    audio_dim: int = 64
    expert_speech: bool = True  # F also gets the (frozen) sync expert's speech embedding of the frame
    use_time: bool = True
    time_frequencies: int = 6  # periods 1 s … 32 s (the paper's timestamp code)
    blend_channels: int = 16
    sync_dim: int = 64
    sync_width: int = 48  # the sync expert's mouth image, grey, px
    sync_frames: int = 5  # mouth images per sync window (0.2 s at 25 fps)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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
    motion_weight: float = 2.0  # lip loss weight of pixels that move with speech (see Trainer._motion_weight)
    hole_probability: float = 0.5  # Sec. 4.3 black-hole augmentation, per training sample
    hole_ratio: float = 0.5
    perceptual_every: int = 1  # the ST-LPIPS terms every k-th step (CPU time)
    perceptual_max_side: int = 0  # the face term's ST-LPIPS on crops shrunk to this size (0: full size)
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


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise InputError(f"{where}: unknown setting {key!r} (known: {', '.join(sorted(known))})")
        if key == "loss":
            if not isinstance(value, dict):
                raise InputError(f"{where}: [train.loss] must be a table")
            kwargs[key] = _build(LossWeights, value, f"{where} [train.loss]")
            continue
        default = getattr(cls(), key)
        if isinstance(default, bool) != isinstance(value, bool) or not isinstance(
            value, type(default) if not isinstance(default, float) else (int, float)
        ):
            raise InputError(f"{where}: {key} must be {type(default).__name__}, got {value!r}")
        kwargs[key] = float(value) if isinstance(default, float) else value
    return cls(**kwargs)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = (
            _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


def _read_toml(path: Path, depth: int = 0) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise InputError(f"cannot read preset {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"preset {path} is not valid TOML: {exc}") from None
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if depth > 4:
        raise InputError(f"preset {path}: 'extends' chain is too long")
    base = _read_toml(_preset_path(str(parent)), depth + 1)
    base.pop("name", None)  # a preset that extends another is named after itself
    return _merge(base, data)


def _preset_path(name_or_file: str) -> Path:
    if name_or_file in PRESET_NAMES:
        return PRESET_DIR / f"{name_or_file}.toml"
    path = Path(name_or_file)
    if path.suffix != ".toml":
        raise InputError(f"unknown preset {name_or_file!r}: use {', '.join(PRESET_NAMES)} or a .toml file")
    if not path.is_file():
        raise InputError(f"preset file not found: {path}")
    return path


def load_preset(name_or_file: str) -> Preset:
    """A shipped preset by name, or a user's TOML file (which may ``extends`` a shipped one)."""
    path = _preset_path(name_or_file)
    data = _read_toml(path)
    unknown = set(data) - {"model", "train", "name"}
    if unknown:
        raise InputError(
            f"preset {path}: unknown section(s) {', '.join(sorted(unknown))} (use [model], [train])"
        )
    return Preset(
        name=str(data.get("name", path.stem)),
        model=_build(ModelConfig, data.get("model", {}), f"preset {path} [model]"),
        train=_build(TrainConfig, data.get("train", {}), f"preset {path} [train]"),
    )


def model_config_from_dict(values: dict[str, Any]) -> ModelConfig:
    """The model sizes stored in a profile's manifest."""
    return _build(ModelConfig, values, "profile model settings")
