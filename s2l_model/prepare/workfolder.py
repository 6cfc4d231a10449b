"""The files of a build's work folder, named in one place.

``s2l profile build`` keeps its work in one folder (``--workdir``, or a hidden one beside the profile)::

    build.json        the settings the work was done with (``--resume`` requires the same)
    checkpoint.pt     the trainer's last checkpoint
    prep/             what ``prepare_video`` writes (a ``PrepFolder``; ``s2l profile prepare`` writes the
                      same files straight into its ``--workdir``)
    trainset/         the training set cut from it (a ``TrainsetFolder``)

Everything that reads or writes one of these files takes its path from here, so the layout is spelled
once. The records only name paths; they read and write nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PrepFolder:
    """A prepared video's folder (what each file holds: ``s2l_model.prepare.pipeline``)."""

    root: Path

    @property
    def landmarks_raw(self) -> Path:
        """Landmarks as detected. The tracker names this file itself (it sits below ``prepare``)."""
        return self.root / "landmarks_raw.npy"

    @property
    def landmarks(self) -> Path:
        """Filtered landmarks. Named by the tracker's filter, like ``landmarks_raw``."""
        return self.root / "landmarks.npy"

    @property
    def poses(self) -> Path:
        return self.root / "poses.npz"

    @property
    def frames(self) -> Path:
        return self.root / "frames.npz"

    @property
    def canonical_image(self) -> Path:
        return self.root / "canonical.png"

    @property
    def canonical_depth(self) -> Path:
        return self.root / "canonical_depth.npy"

    @property
    def face_mask(self) -> Path:
        return self.root / "face_mask.png"

    @property
    def head_mask(self) -> Path:
        return self.root / "head_mask.png"

    @property
    def mouth_mask(self) -> Path:
        return self.root / "mouth_mask.png"

    @property
    def geometry(self) -> Path:
        """``geometry.json``, written last: its presence marks a complete folder."""
        return self.root / "geometry.json"

    @property
    def debug(self) -> Path:
        """Pictures and checks of ``s2l profile prepare --debug``."""
        return self.root / "debug"

    def is_complete(self) -> bool:
        return self.geometry.is_file()


@dataclass(frozen=True)
class TrainsetFolder:
    """A training set's folder (what each array holds: ``s2l_model.dataset.trainset``)."""

    root: Path

    @property
    def meta(self) -> Path:
        """``trainset.json``, written last: its presence marks a complete set."""
        return self.root / "trainset.json"

    @property
    def geometry(self) -> Path:
        return self.root / "geometry.npz"

    @property
    def lips(self) -> Path:
        return self.root / "lips.npy"

    @property
    def lip_valid(self) -> Path:
        return self.root / "lip_valid.npy"

    @property
    def crops(self) -> Path:
        return self.root / "crops.npy"

    @property
    def speech(self) -> Path:
        return self.root / "speech.npy"

    @property
    def sync_speech(self) -> Path:
        return self.root / "sync_speech.npy"

    @property
    def mouth(self) -> Path:
        """The mouth stage's set: mouth points, basis and codes (``dataset.mouthset``)."""
        return self.root / "mouth.npz"

    def mouth_features(self, copy: int) -> Path:
        """Speech features of the training speech (copy 0) or of its augmented copy ``copy`` (1, 2, …)."""
        return self.root / f"mouth_features_{copy}.npy"

    def is_complete(self) -> bool:
        return self.meta.is_file()


@dataclass(frozen=True)
class WorkFolder:
    """A build's work folder."""

    root: Path

    @property
    def settings(self) -> Path:
        """``build.json``: the fingerprint of the video and settings the work was done with."""
        return self.root / "build.json"

    @property
    def checkpoint(self) -> Path:
        return self.root / "checkpoint.pt"

    @property
    def prep(self) -> PrepFolder:
        return PrepFolder(self.root / "prep")

    @property
    def trainset(self) -> TrainsetFolder:
        return TrainsetFolder(self.root / "trainset")

    def can_resume(self) -> bool:
        """Whether an interrupted build got far enough for ``--resume``: its settings and training set."""
        return self.settings.is_file() and self.trainset.is_complete()
