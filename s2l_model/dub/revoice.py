"""Re-voicing footage: new lips only inside given time spans (subtitle events), the original elsewhere.

The post-production case: a scene is re-recorded (a dub track as long as the scene) and only the spoken
lines need new lips. The footage plays as it is, frame for frame; the speaker's head is tracked on the fly
into the profile's canonical space (``track_footage``); inside each span the lips are rendered from the dub
track and cross-faded in and out over ``RAMP_S`` at the span's edges (inside it), so every frame outside
the spans is the original frame, bit for bit with a lossless codec. The output has the footage's length,
frame rate and size, and carries the dub track (padded or cut to the footage).
"""

from __future__ import annotations

import itertools
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from s2l_model.device import choose_device
from s2l_model.dub.footage import track_footage
from s2l_model.dub.pipeline import DubOptions
from s2l_model.dub.speech import SpeechTrack
from s2l_model.errors import InputError
from s2l_model.features.activity import speech_activity
from s2l_model.media import VideoWriter, check_output_path, codec_for_path, iter_frames, probe, probe_video
from s2l_model.profile.speaker import SpeakerProfile
from s2l_model.render.compose import LipCompositor

#: Cross-fade between the original and the new lips at each span's start and end (inside the span).
RAMP_S = 0.2

StageFn = Callable[[str, int, int], None]


@dataclass
class RevoiceResult:
    output: Path
    frames: int
    rendered_frames: int  # frames with new lips (any weight > 0)
    wall_seconds: float
    notes: list[str] = field(default_factory=list)


def span_weights(
    spans: Sequence[tuple[float, float]], n_frames: int, fps: float, ramp: float = RAMP_S
) -> np.ndarray:
    """(n_frames,) weight of the new lips: 0 outside every span, rising to 1 over ``ramp`` seconds after a
    span starts and falling back to 0 at its end. Frame k shows time k / fps."""
    t = np.arange(n_frames) / fps
    weight = np.zeros(n_frames)
    for start, end in spans:
        inside = (t >= start) & (t < end)
        edge = np.minimum(t - start, end - t) / ramp if ramp > 0 else np.ones_like(t)
        weight = np.maximum(weight, np.where(inside, np.clip(edge, 0.0, 1.0), 0.0))
    return weight.astype(np.float32)


def revoice(
    profile_path: Path,
    speech_path: Path,
    video: Path,
    spans: Sequence[tuple[float, float]],
    output: Path,
    options: DubOptions | None = None,
    on_stage: StageFn | None = None,
) -> RevoiceResult:
    options = options or DubOptions()
    started = time.monotonic()
    stage = on_stage or (lambda name, done, total: None)
    output = check_output_path(output, overwrite=options.overwrite)
    codec = codec_for_path(output, options.codec)
    if not probe(speech_path).has_audio:
        raise InputError(f"no audio track in {speech_path}")
    info = probe_video(video)
    assert info.video is not None
    fps, n = info.video.fps, info.video.n_frames
    weights = span_weights(spans, n, float(fps))
    if not weights.any():
        raise InputError(f"none of the {len(spans)} spans falls inside {video.name} ({n / float(fps):.2f} s)")
    device = choose_device(options.device)
    profile = SpeakerProfile.load(profile_path, device)
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="s2l-revoice-") as tmp:
        scratch = Path(tmp)
        speech = SpeechTrack.decode(speech_path, scratch)
        if abs(speech.duration - n / float(fps)) > 0.5:
            notes.append(
                f"the dub track is {speech.duration:.2f} s, the footage {n / float(fps):.2f} s: the output "
                "keeps the footage's length (the track is padded with silence or cut)"
            )
        tracks = track_footage(video, profile, workdir=scratch / "tracking", on_progress=stage)
        tracked = np.zeros(n, bool)  # the decoder may disagree with the container's frame count by a frame
        tracked[: min(n, tracks.n_frames)] = tracks.usable[:n]
        live = tracked & (weights > 0)
        lost = int(((weights > 0) & ~tracked).sum())
        if lost:
            notes.append(f"{lost} frames inside the spans have no tracked face: they keep the original lips")
        activity = speech_activity(speech.read, n, fps, speech.sample_rate)
        compositor = LipCompositor(
            profile.model,
            tracks.rotations[np.flatnonzero(live)],
            tracks.translations[np.flatnonzero(live)],
            rest_seconds=profile.canonical_seconds,
            device=device,
        )
        width, height = info.video.width, info.video.height
        decoded = iter_frames(video, info=info)
        with VideoWriter(
            output, fps=fps, size=(width, height), codec=codec, crf=options.crf,
            preset=options.encoder_preset, audio=speech_path, n_frames=n, overwrite=options.overwrite,
        ) as writer:  # fmt: skip
            for lo in range(0, n, options.batch):
                sources = list(itertools.islice(decoded, options.batch))
                picks = np.flatnonzero(live[lo : lo + len(sources)])
                if len(picks):
                    ks = lo + picks
                    rendered = compositor.render(
                        [sources[j] for j in picks], tracks.poses(ks), speech.read, fps, ks, activity[ks]
                    )
                    for j, (frame, region) in zip(picks, rendered, strict=True):
                        sources[j] = cross_fade(sources[j], frame, region, float(weights[lo + j]))
                for frame in sources:
                    writer.write(frame)
                stage("re-voicing", lo + len(sources), n)
    return RevoiceResult(output, n, int(live.sum()), time.monotonic() - started, notes)


def cross_fade(source: np.ndarray, rendered: np.ndarray, region: np.ndarray, weight: float) -> np.ndarray:
    """``rendered`` at ``weight`` over ``source`` inside ``region`` (the source elsewhere)."""
    if weight >= 1.0:
        return rendered
    mixed = source.astype(np.float32)
    mixed[region] += weight * (rendered[region].astype(np.float32) - mixed[region])
    return np.round(mixed).astype(np.uint8)
