"""Builders for editors' timelines in tests (and docs/NLE.md's worked example): footage at NTSC rates made
from the sample speaker, and real OpenTimelineIO timelines written with the adapters."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from s2l_model.media import Speech, ffmpeg_exe, write_wav

NTSC = Fraction(30000, 1001)
FILM = Fraction(24000, 1001)


def footage_at(video: Path, fps: Fraction, target: Path) -> Path:
    """``video`` resampled to ``fps`` with ffmpeg's ``fps`` filter, same size (the profile's speaker at the
    profile's resolution, as ``--video`` footage must be)."""
    cmd = [
        ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(video),
        "-vf", f"fps={fps.numerator}/{fps.denominator}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-an", "-y", str(target),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True)
    return target


def recording(path: Path, seconds: float, rate: int = 48000, seed: int = 0) -> Path:
    """A "longer recording" of noise-like speech that lines are cut from."""
    rng = np.random.default_rng(seed)
    envelope = 0.5 + 0.5 * np.sin(np.linspace(0, 40 * np.pi, int(rate * seconds)))
    samples = (0.1 * envelope * rng.standard_normal(int(rate * seconds))).astype(np.float32)
    write_wav(path, Speech(samples, rate))
    return path


@dataclass(frozen=True)
class Placed:
    """A clip at a record timecode: ``media`` from ``source_in`` for ``frames`` frames."""

    name: str
    media: str
    record_in: str
    source_in: str
    frames: int
    metadata: dict[str, Any] = field(default_factory=dict)


def timeline(
    rate: Fraction,
    video: list[list[Placed]],
    audio: dict[str, list[Placed]],
    *,
    media_frames: int = 10_000,
    media_start: dict[str, str] | None = None,
) -> Any:
    """A timeline with video tracks (bottom first) and named audio tracks, clips at their record timecodes.

    ``media_start``: the source timecode of a media file's first frame, by file name (default 0: camera
    footage usually starts elsewhere, e.g. 01:00:00:00, and source times are on that clock)."""
    import opentimelineio as otio
    from opentimelineio import opentime

    r = float(rate)
    result = otio.schema.Timeline(name="s2l test")
    result.global_start_time = opentime.RationalTime(0, r)
    for k, clips in enumerate(video, start=1):
        track = _track(otio, f"V{k}", otio.schema.TrackKind.Video, clips, r, media_frames, media_start or {})
        result.tracks.append(track)
    for name, clips in audio.items():
        track = _track(otio, name, otio.schema.TrackKind.Audio, clips, r, media_frames, media_start or {})
        result.tracks.append(track)
    return result


def _track(
    otio: Any,
    name: str,
    kind: Any,
    clips: list[Placed],
    rate: float,
    media_frames: int,
    media_start: dict[str, str],
) -> Any:
    from opentimelineio import opentime

    track = otio.schema.Track(name=name, kind=kind)
    cursor = 0
    for placed in sorted(clips, key=lambda p: opentime.from_timecode(p.record_in, rate).value):
        start = round(opentime.from_timecode(placed.record_in, rate).value)
        if start > cursor:
            track.append(otio.schema.Gap(duration=opentime.RationalTime(start - cursor, rate)))
        reference = otio.schema.ExternalReference(
            target_url=placed.media,
            available_range=opentime.TimeRange(
                opentime.from_timecode(media_start.get(placed.media, "00:00:00:00"), rate),
                opentime.RationalTime(media_frames, rate),
            ),
        )
        clip = otio.schema.Clip(
            name=placed.name,
            media_reference=reference,
            source_range=opentime.TimeRange(
                opentime.from_timecode(placed.source_in, rate), opentime.RationalTime(placed.frames, rate)
            ),
        )
        clip.metadata.update(placed.metadata)
        track.append(clip)
        cursor = start + placed.frames
    return track


def write(tl: Any, path: Path) -> Path:
    """``tl`` written with the adapter of ``path``'s suffix. An EDL: OpenTimelineIO's cmx_3600 writer writes
    one track per EDL (the first), so the picture track and each audio track are written as EDLs of their
    own and joined into one EDL with V and A events, as an editing system exports it."""
    import opentimelineio as otio

    if path.suffix != ".edl":
        otio.adapters.write_to_file(tl, str(path))
        return path
    video = [t for t in tl.tracks if t.kind == otio.schema.TrackKind.Video]
    audio = [t for t in tl.tracks if t.kind == otio.schema.TrackKind.Audio]
    parts = [_edl_of(otio, tl.name, [video[0].deepcopy()])]
    parts += [
        _edl_of(otio, "", [a.deepcopy(), otio.schema.Track(kind=otio.schema.TrackKind.Video)]) for a in audio
    ]
    numbers = iter(range(1, 1000))  # one event number per event: a repeated number means a transition
    text = re.sub(r"^\d{3}(?= )", lambda m: f"{next(numbers):03d}", "\n".join(parts), flags=re.MULTILINE)
    path.write_text(text)
    return path


def _edl_of(otio: Any, title: str, tracks: list[Any]) -> str:
    single = otio.schema.Timeline(name=title)
    for track in tracks:
        single.tracks.append(track)
    return otio.adapters.write_to_string(single, "cmx_3600")
