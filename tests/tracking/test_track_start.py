"""`track_video(start_frame=)`: tracking seeks to the start, so frames before it are never decoded or
tracked, rows keep the video's frame numbers (``first_frame``), and the landmarks of a cut run are those of
a run over the whole video up to the mesh crop's placement."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from s2l_model.errors import InputError
from s2l_model.sample import SampleOutputs
from s2l_model.tracking import track as track_module
from s2l_model.tracking.store import read_rows
from s2l_model.tracking.track import track_video


class CountingTracker(track_module.MeshTracker):
    """The face-mesh tracker, counting the frames handed to it (a checksum of each)."""

    frames: ClassVar[list[int]] = []

    def process(self, frame: np.ndarray) -> np.ndarray | None:
        CountingTracker.frames.append(int(frame.sum()))
        return super().process(frame)


def test_frames_before_the_start_are_not_tracked(
    sample_speaker: SampleOutputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(track_module, "MeshTracker", CountingTracker)
    for name in ("whole", "part"):
        (tmp_path / name).mkdir()
    CountingTracker.frames = []
    whole = track_video(sample_speaker.video, tmp_path / "whole")
    sums = list(CountingTracker.frames)  # one checksum per frame of the video, in order
    assert whole.first_frame == 0 and whole.n_frames == len(sums) == 200

    CountingTracker.frames = []
    part = track_video(sample_speaker.video, tmp_path / "part", start_frame=120, max_frames=50)
    assert part.first_frame == 120 and part.n_frames == 50
    assert len(CountingTracker.frames) == 50  # frames 120 … 169 only
    assert CountingTracker.frames == sums[120:170]  # and they are those frames
    a = read_rows(whole.landmarks_path, 120, 170)
    b = read_rows(part.landmarks_path, 0, 50)
    assert np.array_equal(whole.found[120:170], part.found)
    # static mode on every frame: only the mesh crop's placement differs (a fresh detection at the seek
    # instead of the whole run's crop), which moves the mesh by a fraction of a pixel (measured: mean
    # 0.26 px in x and y)
    assert np.abs(a - b)[..., :2].mean() < 0.5, np.abs(a - b)[..., :2].mean()


def test_a_start_outside_the_video_is_refused(sample_speaker: SampleOutputs, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="start frame 200 is outside"):
        track_video(sample_speaker.video, tmp_path, start_frame=200)
