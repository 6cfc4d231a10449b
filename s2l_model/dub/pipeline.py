"""`dub`: a profile + any speech → a video of the speaker saying it, streamed end to end.

    speech file → SpeechTrack (decoded to a scratch file) → log-mel windows + speech activity ─┐
    footage tracks (the profile's, or --video tracked on the fly) → poses ────────────────────┼→ render_frames
    footage → Schedule (loop/pingpong/hold) → FootageFrames (decoded in schedule order) ───────┘       │
              (a loop's cross-fade: the tail frames decoded and given lips alongside, then mixed)      │
    VideoWriter (ffmpeg, atomic) ← composed frames, + the speech file's own audio muxed ←─────────────┘

Everything runs a batch of frames at a time, so memory does not grow with the speech's length. The output
has exactly round(duration × fps) frames; its audio is the speech file's own track (full quality, not the
16 kHz copy the model listens to), padded or cut to the video's length.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from functools import partial
from pathlib import Path

import numpy as np

from s2l_model.device import choose_device
from s2l_model.dub.background import BackgroundMode, FootageFrames, Schedule, plan_schedule, thumbnails
from s2l_model.dub.dissolve import align, dissolve
from s2l_model.dub.footage import FootageTracks, track_footage
from s2l_model.dub.speech import SpeechTrack
from s2l_model.errors import InputError
from s2l_model.media import (
    Codec,
    MediaInfo,
    VideoWriter,
    check_output_path,
    codec_for_path,
    iter_frames,
    probe,
    probe_video,
    seek_seconds,
)
from s2l_model.profile.speaker import SpeakerProfile
from s2l_model.progress import StageFn
from s2l_model.render.batch import FaceLayer, RenderJob, SpeechFrames, render_frames
from s2l_model.render.compose import LipCompositor


@dataclass(frozen=True)
class DubOptions:
    background: BackgroundMode = "loop"
    start: float = 0.0  # seconds into the footage
    end: float | None = None  # seconds into the footage where the background stops (loops/turns before it)
    video: Path | None = None  # other footage of the speaker (default: the profile's own)
    fps: Fraction | None = None  # default: the profile's
    codec: Codec | None = None  # default: from the output's suffix
    crf: int | None = None
    device: str = "auto"
    overwrite: bool = False
    batch: int = 8
    mouth_amp: float = 1.0  # how far the mouth moves from rest (1: as calibrated; 0: the resting mouth)
    #: x264 speed preset: "veryfast" keeps encoding to a few ms a frame at the same CRF quality (files ~5 %
    #: larger than "medium"), leaving the cores to the model.
    encoder_preset: str = "veryfast"


@dataclass
class DubResult:
    output: Path
    frames: int
    fps: Fraction
    seconds: float  # the speech's duration
    background: BackgroundMode
    footage_frames: tuple[int, int]  # first and last footage frame played
    device: str
    wall_seconds: float
    speaking_share: float  # share of frames with speech activity
    notes: list[str] = field(default_factory=list)
    #: loop: footage frames of the cross-fade at each wrap (0: none); wraps: output frames where each loop
    #: cycle after the first begins (its cross-fade's first frame) or where pingpong turns
    dissolve: int = 0
    wraps: list[int] = field(default_factory=list)
    aligned: bool = False  # the cross-fade glides between two framings of one shot (dub.dissolve)


def dub(
    profile_path: Path,
    speech_path: Path,
    output: Path,
    options: DubOptions = DubOptions(),
    on_stage: StageFn | None = None,
    profile: SpeakerProfile | None = None,
) -> DubResult:
    """Dub ``speech_path`` with the speaker of ``profile_path`` into ``output``; ``profile``, when given, is
    that profile already loaded on the right device (a batch worker loads each profile once)."""
    started = time.monotonic()
    stage = on_stage or (lambda name, done, total: None)
    output = check_output_path(output, overwrite=options.overwrite)
    codec = codec_for_path(output, options.codec)
    if options.fps is not None and options.fps <= 0:
        raise InputError(f"--fps must be positive, got {options.fps}")
    if options.end is not None and options.end <= options.start:
        raise InputError(f"--end ({options.end:g} s) must be after --start ({options.start:g} s)")
    if not speech_path.is_file():
        raise InputError(f"no such speech file: {speech_path}")
    if not probe(speech_path).has_audio:
        raise InputError(f"no audio track in {speech_path}")
    device = choose_device(options.device)
    if profile is None:
        profile = SpeakerProfile.load(profile_path, device)
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="s2l-dub-") as tmp:
        scratch = Path(tmp)
        # Quick steps show no bar (seconds even for an hour of speech): a bar left finished above a later
        # one-line error would make the error two lines.
        speech = SpeechTrack.decode(speech_path, scratch)
        fps = options.fps or profile.fps
        n_out = speech.n_frames(fps)
        if n_out == 0:
            raise InputError(
                f"{speech_path.name} is shorter than one frame ({speech.duration * 1000:.0f} ms)"
            )
        # The recogniser starts on the first phoneme chunk now, while Silero finds the speech activity.
        heard = speech.heard(fps, prefetch=[profile.model.hears])
        try:
            schedule = _dub_frames(profile, speech, heard, options, scratch, output, codec, stage, notes)
        finally:
            heard.close()
    return DubResult(
        output=output,
        frames=n_out,
        fps=fps,
        seconds=speech.duration,
        background=schedule.mode,
        footage_frames=(schedule.first, schedule.last),
        device=str(device),
        wall_seconds=time.monotonic() - started,
        speaking_share=float((heard.activity > 0.5).mean()),
        notes=notes,
        dissolve=schedule.dissolve,
        wraps=schedule.wraps(n_out).tolist(),
        aligned=schedule.aligned,
    )


def _dub_frames(
    profile: SpeakerProfile,
    speech: SpeechTrack,
    heard: SpeechFrames,
    options: DubOptions,
    scratch: Path,
    output: Path,
    codec: Codec,
    stage: StageFn,
    notes: list[str],
) -> Schedule:
    """Plan the background for the speech ``heard`` and render the dub into ``output``; returns the plan."""
    n_out = len(heard.activity)
    fps = heard.fps
    if heard.activity.max() == 0.0:
        name, seconds = speech.source.name, speech.duration
        notes.append(f"{name} is silent: the mouth stays closed for its {seconds:.1f} s")
    footage, tracks = _footage(profile, options, scratch, n_out, fps, stage)
    info = probe_video(footage)
    start_frame = round(options.start * tracks.fps)
    usable = tracks.usable
    if options.end is not None:
        usable = usable.copy()
        usable[round(options.end * tracks.fps) :] = False
    schedule = plan_schedule(
        options.background,
        usable=usable,
        footage_fps=tracks.fps,
        out_fps=fps,
        n_out=n_out,
        start_frame=start_frame,
        thumbnails_of=lambda first, count: thumbnails(footage, first, count, tracks.fps),
        aligned=partial(_one_shot, footage, info, tracks.fps),
    )
    if schedule.note:
        notes.append(schedule.note)
    _render(profile, speech, heard, tracks, schedule, footage, info, output, codec, options, stage, scratch)
    return schedule


def _footage(
    profile: SpeakerProfile, options: DubOptions, scratch: Path, n_out: int, fps: Fraction, stage: StageFn
) -> tuple[Path, FootageTracks]:
    """The background video and its tracks in the profile's canonical space."""
    if options.video is None:
        return profile.extract_footage(scratch), FootageTracks.from_profile(profile)
    info = probe_video(options.video)
    assert info.video is not None
    footage_fps = info.video.fps
    start_frame = round(options.start * footage_fps)
    # Only the frames the dub can show are tracked: up to the speech's length, or the whole rest of the
    # footage when the speech is longer (a loop may use any of it).
    needed = int(Fraction(n_out) * footage_fps / fps) + 2
    tracked = track_footage(
        options.video,
        profile,
        workdir=scratch / "tracking",
        start_frame=start_frame,
        max_frames=needed,
        on_progress=stage,
    )
    # The tracks start at start_frame; pad the frames before it as untracked so indices stay the video's.
    pad = start_frame
    return options.video, FootageTracks(
        fps=tracked.fps,
        size=tracked.size,
        rotations=np.concatenate([np.zeros((pad, 3, 3), np.float32), tracked.rotations]),
        translations=np.concatenate([np.zeros((pad, 3), np.float32), tracked.translations]),
        origins=np.concatenate([np.zeros((pad, 2), np.int32), tracked.origins]),
        usable=np.concatenate([np.zeros(pad, bool), tracked.usable]),
    )


def _render(
    profile: SpeakerProfile,
    speech: SpeechTrack,
    heard: SpeechFrames,
    tracks: FootageTracks,
    schedule: Schedule,
    footage: Path,
    info: MediaInfo,
    output: Path,
    codec: Codec,
    options: DubOptions,
    stage: StageFn,
    scratch: Path,
) -> None:
    """Compose every output frame over its scheduled footage frame and write them with the speech's audio.

    In a loop's cross-fade both footage frames get new lips, each at its own pose (the same speech), and
    the two composed frames are mixed: the lips never ghost over a head they do not belong to."""
    n_out = len(heard.activity)
    index = schedule.frames(0, n_out)  # the footage frame behind each output frame
    second, weight = schedule.mix(0, n_out)  # the footage frame mixed over it, and its weight
    mixed = weight > 0
    shown = np.arange(schedule.first, schedule.last + 1)
    shown = shown[tracks.usable[shown]]
    compositor = LipCompositor.for_profile(
        profile,
        tracks.rotations[shown],
        tracks.translations[shown],
        device=next(profile.model.parameters()).device,
        mouth_amp=options.mouth_amp,
    )
    job = RenderJob(
        layers=[FaceLayer(compositor, tracks.poses, tracks.usable[index])],
        footage=index,
        speech=heard,
        batch=options.batch,
    )
    # The tail frames of the cross-fades, rendered alongside (only where mixed; a second decoder, so the
    # two runs each stream forwards).
    tail_job = RenderJob(
        layers=[FaceLayer(compositor, tracks.poses, tracks.usable[second] & mixed)],
        footage=second,
        speech=heard,
        batch=options.batch,
    )
    frames = FootageFrames(footage, tracks.fps, info, scratch_dir=scratch)
    tails = FootageFrames(footage, tracks.fps, info, scratch_dir=scratch)
    width, height = tracks.size
    try:
        with VideoWriter(
            output,
            fps=schedule.out_fps,
            size=(width, height),
            codec=codec,
            crf=options.crf,
            preset=options.encoder_preset,
            audio=speech.source,
            n_frames=n_out,
            overwrite=options.overwrite,
        ) as writer:
            rendered = render_frames(job, frames.in_order(index), on_batch=partial(stage, "dubbing"))
            if not mixed.any():
                for frame in rendered:
                    writer.write(frame.frame)
                return
            blank = np.zeros((height, width, 3), np.uint8)  # behind unmixed frames: never live, never shown
            tail_sources = _where(mixed, tails.in_order(second[mixed]), blank)
            alignment: np.ndarray | None = None  # the last map found (dissolve.align)
            for k, (own, tail) in enumerate(
                zip(rendered, render_frames(tail_job, tail_sources), strict=True)
            ):
                if not mixed[k]:
                    writer.write(own.frame)
                    alignment = None  # each wrap finds its own maps
                    continue
                # The two framings of one shot glide into each other (one head, not two). The schedule
                # decided for the whole wrap, so no frame of it flips between warped and plain: a pair
                # the alignment misses keeps its neighbour's map (the runs are continuous).
                if schedule.aligned:
                    alignment = align(own.frame, tail.frame, initial=alignment)
                writer.write(dissolve(own.frame, tail.frame, float(weight[k]), alignment))
    finally:
        frames.close()
        tails.close()


def _one_shot(footage: Path, info: MediaInfo, fps: Fraction, a: int, b: int) -> bool:
    """Whether footage frames ``a`` and ``b`` are one shot in two framings (``dissolve.align``)."""

    def frame(index: int) -> np.ndarray:
        return next(iter_frames(footage, start=seek_seconds(index, fps), max_frames=1, info=info))

    return align(frame(a), frame(b)) is not None


def _where(mask: np.ndarray, frames: Iterator[np.ndarray], blank: np.ndarray) -> Iterator[np.ndarray]:
    """One frame per entry of ``mask``: the next of ``frames`` where True, ``blank`` elsewhere."""
    for on in mask:
        yield next(frames) if on else blank
