"""A speaker profile's manifest as a typed record.

The container (``profile.container``) stores a free-form JSON manifest; a speaker profile's is this record.
``to_dict`` gives the JSON the profile keeps (its keys and their order are the on-disk format: profiles
written before this record existed read back unchanged), ``from_dict`` reads it back, with the container's
own fields (format version, writer, member table) when the dict came from a stored profile.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from s2l_model.errors import InputError
from s2l_model.profile.container import read_manifest

KIND = "s2l speaker profile"
FOOTAGE = "footage"  # the footage's member name, before the video's own suffix


@dataclass(frozen=True)
class SourceRecord:
    """The video the profile was learned from."""

    name: str
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "bytes": self.bytes}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SourceRecord:
        return cls(name=str(d["name"]), bytes=int(d["bytes"]))


@dataclass(frozen=True)
class SplitRecord:
    """The train / held-out split of the footage's frames."""

    test_split: float  # the fraction asked for
    train: range  # frames training may have read (unusable ones excepted)
    heldout: range  # the frames never trained on, at the end
    trained_on: int  # usable frames of ``train``

    def to_dict(self) -> dict[str, Any]:
        return {
            "test_split": self.test_split,
            "train_frames": [self.train.start, self.train.stop],
            "heldout_frames": [self.heldout.start, self.heldout.stop],
            "trained_on": self.trained_on,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SplitRecord:
        (train_start, train_stop), (held_start, held_stop) = d["train_frames"], d["heldout_frames"]
        return cls(
            test_split=float(d["test_split"]),
            train=range(int(train_start), int(train_stop)),
            heldout=range(int(held_start), int(held_stop)),
            trained_on=int(d["trained_on"]),
        )


@dataclass(frozen=True)
class TrainingRecord:
    """How the model was trained and how training ended."""

    device: str
    seed: int
    steps: int
    sync_expert_steps: int
    seconds: float
    stopped_by: str  # "steps" or "budget"
    blend_net: bool
    heldout_lip_psnr: float | None
    expert_heldout_accuracy: float | None
    final_losses: dict[str, float]
    mouth_steps: int = 0  # the speech → mouth-code stage's steps
    mouth_check: dict[str, float] = field(default_factory=dict)  # that stage on its calibration slice

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "seed": self.seed,
            "steps": self.steps,
            "sync_expert_steps": self.sync_expert_steps,
            "seconds": self.seconds,
            "stopped_by": self.stopped_by,
            "blend_net": self.blend_net,
            "heldout_lip_psnr": self.heldout_lip_psnr,
            "expert_heldout_accuracy": self.expert_heldout_accuracy,
            "final_losses": dict(self.final_losses),
            "mouth_steps": self.mouth_steps,
            "mouth_check": dict(self.mouth_check),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainingRecord:
        return cls(
            device=str(d["device"]),
            seed=int(d["seed"]),
            steps=int(d["steps"]),
            sync_expert_steps=int(d["sync_expert_steps"]),
            seconds=float(d["seconds"]),
            stopped_by=str(d["stopped_by"]),
            blend_net=bool(d["blend_net"]),
            heldout_lip_psnr=d["heldout_lip_psnr"],
            expert_heldout_accuracy=d["expert_heldout_accuracy"],
            final_losses=dict(d["final_losses"]),
            mouth_steps=int(d.get("mouth_steps", 0)),
            mouth_check={str(k): float(v) for k, v in dict(d.get("mouth_check", {})).items()},
        )


@dataclass(frozen=True)
class StoredMember:
    """A member of a stored profile, as its member table lists it."""

    sha256: str
    bytes: int


@dataclass
class ProfileManifest:
    """What a speaker profile says about itself.

    ``preset``, ``model`` and ``layout`` are the JSON of the preset the profile was trained with, its
    ``ModelConfig`` and its ``SceneLayout``: the model loader parses the last two (``profile.speaker``).
    The last three fields exist only on a manifest read back from a profile (the container writes them).
    """

    source: SourceRecord
    fps: Fraction
    width: int
    height: int
    frames: int
    canonical_frame: int
    split: SplitRecord
    preset: dict[str, Any]
    model: dict[str, Any]
    layout: dict[str, Any]
    training: TrainingRecord
    footage: str  # the footage's member name (``files/<footage>``)
    metrics: dict[str, Any] = field(default_factory=dict)  # held-out figures; empty without the check
    format_version: int | None = None
    s2l_version: str | None = None
    members: dict[str, StoredMember] = field(default_factory=dict)

    @property
    def preset_name(self) -> str:
        return str(self.preset.get("name"))

    @property
    def footage_bytes(self) -> int:
        """Size of the stored footage (0 when the manifest was not read from a profile)."""
        member = self.members.get(f"files/{self.footage}")
        return 0 if member is None else member.bytes

    @property
    def stored_bytes(self) -> int:
        """Size of all the members together."""
        return sum(member.bytes for member in self.members.values())

    def to_dict(self) -> dict[str, Any]:
        """The JSON the profile stores (without the container's fields, which it adds itself)."""
        return {
            "kind": KIND,
            "source": self.source.to_dict(),
            "fps": f"{self.fps.numerator}/{self.fps.denominator}",
            "width": self.width,
            "height": self.height,
            "frames": self.frames,
            "canonical_frame": self.canonical_frame,
            "split": self.split.to_dict(),
            "preset": self.preset,
            "model": self.model,
            "layout": self.layout,
            "training": self.training.to_dict(),
            "footage": self.footage,
            "metrics": dict(self.metrics),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, label: str = "profile") -> ProfileManifest:
        """Read a manifest; ``label`` (the profile's name) starts the one-line error of a foreign or
        malformed one."""
        if d.get("kind") != KIND:
            raise InputError(f"{label}: not an s2l speaker profile (kind {d.get('kind')!r})")
        try:
            num, den = (int(v) for v in str(d["fps"]).split("/"))
            return cls(
                source=SourceRecord.from_dict(d["source"]),
                fps=Fraction(num, den),
                width=int(d["width"]),
                height=int(d["height"]),
                frames=int(d["frames"]),
                canonical_frame=int(d["canonical_frame"]),
                split=SplitRecord.from_dict(d["split"]),
                preset=dict(d["preset"]),
                model=dict(d["model"]),
                layout=dict(d["layout"]),
                training=TrainingRecord.from_dict(d["training"]),
                footage=str(d["footage"]),
                metrics=dict(d.get("metrics") or {}),
                format_version=d.get("format_version"),
                s2l_version=d.get("s2l_version"),
                members={
                    name: StoredMember(sha256=str(entry["sha256"]), bytes=int(entry["bytes"]))
                    for name, entry in (d.get("members") or {}).items()
                },
            )
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            raise InputError(
                f"{label}: the profile's manifest is malformed ({exc.__class__.__name__}: {exc})"
            ) from None


def read_speaker_manifest(path: str | os.PathLike[str]) -> ProfileManifest:
    """A stored speaker profile's manifest, without reading its members (cheap whatever the size)."""
    return ProfileManifest.from_dict(read_manifest(path), label=Path(path).name)
