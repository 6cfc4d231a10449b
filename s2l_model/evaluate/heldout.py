"""The held-out protocol: re-render a range of a speaker's own video from its real speech, compare.

The paper trains on the first 90 % of each video and evaluates on the last 10 %
(``s2l_model.dataset.split``). Any renderer that turns frame indices plus the speech under them into frames
can be measured this way; the profile's renderer (``s2l evaluate SPEAKER.prof``) is one. Both sides are
written losslessly (FFV1) with the same speech, so the comparison sees the renderer's errors and no codec's.
A profile's own sync expert adds its scores (``add_expert_scores``); ``evaluation_metrics`` gives the
figures a profile stores.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from s2l_model.errors import InputError
from s2l_model.evaluate.compare import EvaluateConfig, Evaluation, evaluate_videos
from s2l_model.evaluate.expert import LABEL, canonical_mouths, expert_sync
from s2l_model.media import (
    MediaInfo,
    Speech,
    VideoWriter,
    iter_frames,
    load_speech,
    probe_video,
    seek_seconds,
)
from s2l_model.profile.speaker import SpeakerProfile
from s2l_model.progress import StageFn


class FrameRenderer(Protocol):
    def render(self, frames: Sequence[int], speech: Speech) -> Iterator[np.ndarray]:
        """One RGB frame at the source resolution for each index of ``frames`` (in order); ``speech`` is the
        source's speech from the first index's start to the last one's end."""
        ...


def evaluate_heldout(
    video: Path,
    frames: range,
    renderer: FrameRenderer,
    workdir: Path,
    *,
    config: EvaluateConfig | None = None,
    on_stage: StageFn | None = None,
    info: MediaInfo | None = None,
) -> Evaluation:
    """Render ``frames`` of ``video`` with ``renderer``, write both sides to ``workdir``, compare them.

    ``info``: the video's probe, where the caller has it already.
    """
    info = info or probe_video(video)
    assert info.video is not None
    v = info.video
    if frames.step != 1 or not frames or frames.start < 0 or frames.stop > v.n_frames:
        raise InputError(f"held-out frames {frames.start}-{frames.stop - 1} are not inside {video.name}")
    fps = v.fps
    start_s, stop_s = frames.start / fps, frames.stop / fps
    full = load_speech(video, info=info)
    rate = full.sample_rate
    speech = Speech(full.samples[round(start_s * rate) : round(stop_s * rate)], rate)
    truth, prediction = workdir / "truth.mkv", workdir / "prediction.mkv"
    size = (v.width, v.height)
    n = len(frames)
    with VideoWriter(truth, fps=fps, size=size, codec="ffv1", audio=speech, n_frames=n) as writer:
        decoded = iter_frames(video, info=info, start=seek_seconds(frames.start, fps), max_frames=n)
        for done, frame in enumerate(decoded, 1):
            writer.write(frame)
            if on_stage:
                on_stage("cutting truth", done, n)
    with VideoWriter(prediction, fps=fps, size=size, codec="ffv1", audio=speech, n_frames=n) as writer:
        for done, frame in enumerate(renderer.render(frames, speech), 1):
            if frame.shape != (v.height, v.width, 3):
                raise ValueError(f"renderer gave a {frame.shape} frame for a {v.width}x{v.height} video")
            writer.write(frame)
            if on_stage:
                on_stage("rendering held-out frames", done, n)
    return evaluate_videos(prediction, truth, config=config, on_stage=on_stage)


def add_expert_scores(evaluation: Evaluation, profile: SpeakerProfile, frames: range) -> None:
    """Score the evaluation's prediction and truth videos (``frames`` of the profile's footage) with the
    profile's sync expert."""
    for role, path in (("prediction", evaluation.prediction), ("truth", evaluation.reference)):
        if path is None:
            continue
        mouths = canonical_mouths(profile, zip(frames, iter_frames(path), strict=False))
        evaluation.sync[f"{role}/{LABEL}"] = expert_sync(
            profile, mouths, load_speech(path), f"{role}/{LABEL}"
        )


def evaluation_metrics(evaluation: Evaluation) -> dict[str, Any]:
    """The figures a profile stores of its held-out check: column means and sync scores, rounded (None
    where a figure is undefined)."""
    e = evaluation
    out: dict[str, Any] = {"frames": e.n_frames}
    for column in (
        "psnr_mouth",
        "psnr_mouth_square",
        "psnr_frame",
        "ssim_mouth",
        "ssim_mouth_square",
        "ssim_frame",
        "stlpips_mouth",
        "cpbd_mouth",
        "lmd_px",
        "lmd_iod",
    ):
        value = e.mean(column)
        out[column] = round(value, 5) if np.isfinite(value) else None
    for key, score in e.sync.items():
        out[f"sync/{key}"] = round(score.score, 5) if np.isfinite(score.score) else None
        out[f"sync_offset/{key}"] = score.offset
    return out
