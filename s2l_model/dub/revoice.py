"""Re-voicing footage: new lips only inside given time spans (subtitle events), the original elsewhere.

The post-production case: a scene is re-recorded (a dub track as long as the scene) and only the spoken
lines need new lips. The footage plays as it is, frame for frame; each actor's head is tracked on the fly
into their profile's canonical space (``track_footage``, the actor's face chosen by number); inside each of
their spans the lips are rendered from the dub track and cross-faded in and out over ``RAMP_S`` at the
span's edges (inside it), so every frame outside the spans is the original frame, bit for bit with a
lossless codec. The output has the footage's length, frame rate and size, and carries the dub track
(padded or cut to the footage).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import partial
from pathlib import Path

import numpy as np
import torch

from s2l_model.device import choose_device
from s2l_model.dub.footage import track_footage
from s2l_model.dub.pipeline import DubOptions
from s2l_model.dub.speech import SpeechTrack
from s2l_model.errors import InputError
from s2l_model.media import VideoWriter, check_output_path, codec_for_path, iter_frames, probe, probe_video
from s2l_model.profile.speaker import SpeakerProfile
from s2l_model.progress import StageFn
from s2l_model.render.batch import FaceLayer, RenderJob, render_frames
from s2l_model.render.compose import LipCompositor

#: Cross-fade between the original and the new lips at each span's start and end (inside the span).
RAMP_S = 0.2


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


@dataclass(frozen=True)
class Part:
    """One actor's share of a re-voicing: their profile, the spans they speak, and which face is theirs."""

    profile: Path
    spans: Sequence[tuple[float, float]]
    face: int | None = None  # 1-based, left to right on the first frame with faces; None: the largest
    name: str = ""  # the actor, for messages


def revoice(
    parts: Sequence[Part],
    speech_path: Path,
    video: Path,
    output: Path,
    options: DubOptions | None = None,
    on_stage: StageFn | None = None,
) -> RevoiceResult:
    """Re-voice ``video`` with the dub track ``speech_path``: each part's face gets new lips inside its spans.

    Several parts are several actors in the same footage (each tracked on its own, by face number); their
    new lips are composed one after another, each only inside its own blend region."""
    if not parts:
        raise ValueError("nothing to re-voice: no parts")
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
    all_spans = [span for part in parts for span in part.spans]
    if not span_weights(all_spans, n, float(fps)).any():
        raise InputError(
            f"none of the {len(all_spans)} spans falls inside {video.name} ({n / float(fps):.2f} s)"
        )
    device = choose_device(options.device)
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="s2l-revoice-") as tmp:
        scratch = Path(tmp)
        speech = SpeechTrack.decode(speech_path, scratch)
        if abs(speech.duration - n / float(fps)) > 0.5:
            notes.append(
                f"the dub track is {speech.duration:.2f} s, the footage {n / float(fps):.2f} s: the output "
                "keeps the footage's length (the track is padded with silence or cut)"
            )
        layers = [
            _prepare_actor(part, video, n, fps, device, scratch / f"tracking{k}", stage, notes)
            for k, part in enumerate(parts)
        ]
        heard = speech.heard(fps, n, prefetch=[layer.compositor.hears for layer in layers])
        # the footage plays frame for frame; the actors' lips are composed one after another
        job = RenderJob(layers, footage=np.arange(n), speech=heard, batch=options.batch)
        width, height = info.video.width, info.video.height
        decoded = iter_frames(video, info=info)
        try:
            with VideoWriter(
                output, fps=fps, size=(width, height), codec=codec, crf=options.crf,
                preset=options.encoder_preset, audio=speech_path, n_frames=n, overwrite=options.overwrite,
            ) as writer:  # fmt: skip
                for rendered in render_frames(job, decoded, on_batch=partial(stage, "re-voicing")):
                    writer.write(rendered.frame)
        finally:
            heard.close()  # the phonemes computed ahead stop, however the render ends
    rendered_frames = int(np.logical_or.reduce([layer.live for layer in layers]).sum())
    return RevoiceResult(output, n, rendered_frames, time.monotonic() - started, notes)


def _prepare_actor(
    part: Part,
    video: Path,
    n: int,
    fps: Fraction,
    device: torch.device,
    workdir: Path,
    stage: StageFn,
    notes: list[str],
) -> FaceLayer:
    """Track ``part``'s face through the footage: its new lips, live inside its spans where it is tracked."""
    prefix = f"{part.name}: " if part.name else ""
    profile = SpeakerProfile.load(part.profile, device)
    weights = span_weights(part.spans, n, float(fps))
    # Only the frames inside the part's spans need its face: another actor may fill the rest of the footage.
    tracks = track_footage(
        video, profile, workdir=workdir, face=part.face, min_usable=0.0,
        on_progress=lambda name, done, total: stage(f"{prefix}{name}", done, total),
    )  # fmt: skip
    tracked = np.zeros(n, bool)  # the decoder may disagree with the container's frame count by a frame
    tracked[: min(n, tracks.n_frames)] = tracks.usable[:n]
    wanted = weights > 0
    live = tracked & wanted
    if wanted.any() and not live.any():
        raise InputError(
            f"{prefix}the face of {part.profile.name} is not usable in any frame of its events "
            "(not seen, or larger than in the profile's footage)"
            + ("; choose it with --face" if part.face is None else "")
        )
    lost = int((wanted & ~tracked).sum())
    if lost:
        notes.append(
            f"{prefix}{lost} frames inside the events have no tracked face: they keep the original lips"
        )
    compositor = LipCompositor.for_profile(
        profile, tracks.rotations[np.flatnonzero(live)], tracks.translations[np.flatnonzero(live)], device
    )
    return FaceLayer(compositor, tracks.poses, live, weights)
