"""Re-voicing footage: new lips only inside given time spans (subtitle events), the original elsewhere.

The post-production case: a scene is re-recorded (a dub track as long as the scene) and only the spoken
lines need new lips. The footage plays as it is, frame for frame; the speaker's head is tracked on the fly
into the profile's canonical space (``track_footage``); inside each span the lips are rendered from the dub
track and cross-faded in and out over ``RAMP_S`` at the span's edges (inside it), so every frame outside
the spans is the original frame, bit for bit with a lossless codec. The output has the footage's length,
frame rate and size, and carries the dub track (padded or cut to the footage).
"""

from __future__ import annotations

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
from s2l_model.features.speech import MelConfig
from s2l_model.media import VideoWriter, check_output_path, codec_for_path, iter_frames, probe, probe_video
from s2l_model.profile.speaker import SpeakerProfile
from s2l_model.render.compose import FramePoses, LipCompositor

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
        live = tracks.usable[:n] & (weights[: len(tracks.usable)] > 0)
        lost = int(((weights > 0)[: len(live)] & ~tracks.usable[:n]).sum())
        if lost:
            notes.append(f"{lost} frames inside the spans have no tracked face: they keep the original lips")
        activity = speech_activity(speech.read, n, fps, speech.sample_rate)
        model = profile.model
        compositor = LipCompositor(
            model,
            tracks.rotations[np.flatnonzero(live)],
            tracks.translations[np.flatnonzero(live)],
            rest_seconds=float(profile.manifest["canonical_frame"] / profile.fps),
            device=device,
        )
        sync_config = MelConfig(window_frames=model.layout.sync_mel_frames)
        width, height = info.video.width, info.video.height
        with VideoWriter(
            output, fps=fps, size=(width, height), codec=codec, crf=options.crf,
            preset=options.encoder_preset, audio=speech_path, n_frames=n, overwrite=options.overwrite,
        ) as writer:  # fmt: skip
            batch: list[tuple[int, np.ndarray]] = []
            for k, frame in enumerate(iter_frames(video, info=info)):
                if k < len(live) and live[k]:
                    batch.append((k, frame))
                    if len(batch) < options.batch:
                        continue
                else:
                    _flush(batch, writer, compositor, tracks, speech, fps, sync_config, activity, weights)
                    batch = []
                    writer.write(frame)
                    stage("re-voicing", k + 1, n)
                    continue
                _flush(batch, writer, compositor, tracks, speech, fps, sync_config, activity, weights)
                batch = []
                stage("re-voicing", k + 1, n)
            _flush(batch, writer, compositor, tracks, speech, fps, sync_config, activity, weights)
            stage("re-voicing", n, n)
    return RevoiceResult(output, n, int(live.sum()), time.monotonic() - started, notes)


def _flush(batch, writer, compositor, tracks, speech, fps, sync_config, activity, weights) -> None:
    """Render a run of consecutive frames with new lips and write them, cross-faded by their weights."""
    if not batch:
        return
    ks = np.array([k for k, _ in batch])
    span = range(int(ks[0]), int(ks[-1]) + 1)  # consecutive by construction
    poses = FramePoses(
        rotations=tracks.rotations[ks],
        translations=tracks.translations[ks],
        seconds=(ks / float(fps)).astype(np.float32),
    )
    rendered = compositor.render(
        [f for _, f in batch],
        poses,
        speech.windows(fps, span),
        speech.windows(fps, span, sync_config),
        activity[ks],
    )
    for (k, source), (frame, region) in zip(batch, rendered, strict=True):
        w = float(weights[k])
        if w < 1.0:  # cross-fade inside the re-rendered region only
            mixed = source.astype(np.float32)
            mixed[region] += w * (frame[region].astype(np.float32) - mixed[region])
            frame = np.round(mixed).astype(np.uint8)
        writer.write(frame)
