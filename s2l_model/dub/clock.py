"""The clock of a dub's footage: where a user's ``--start`` / ``--end`` (seconds or timecode) falls in it.

The footage is ``--video`` when given (probed: its frame rate and source timecode), else the profile's own
footage, whose frame rate the manifest keeps (read without opening the profile's members). The manifest
keeps no source timecode, so SMPTE times on the profile's footage count from ``00:00:00:00``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from s2l_model.errors import InputError
from s2l_model.media import TimeSpec, probe_video
from s2l_model.profile.manifest import read_speaker_manifest


@dataclass(frozen=True)
class FootageClock:
    fps: Fraction
    source_timecode: str | None = None  # the SMPTE label of the footage's first frame, where tagged


def footage_clock(profile_path: Path, video: Path | None) -> FootageClock:
    """The clock of the footage a dub plays: ``video``'s, or the profile's own footage's."""
    if video is not None:
        stream = probe_video(video).video
        assert stream is not None  # probe_video refuses a file without one
        return FootageClock(fps=stream.fps, source_timecode=stream.timecode)
    return FootageClock(fps=read_speaker_manifest(profile_path).fps)


def resolve_frame(spec: TimeSpec, clock: FootageClock) -> int:
    """The footage frame ``spec`` means (``InputError`` for a timecode the footage does not have)."""
    return spec.frame(clock.fps, clock.source_timecode)


def resolve_seconds(spec: TimeSpec, clock: FootageClock) -> float:
    """``spec`` as seconds into the footage, frame / fps, so that ``round(seconds * fps)`` is the frame."""
    return spec.seconds(clock.fps, clock.source_timecode)


def resolve_times(times: Mapping[str, TimeSpec], profile_path: Path, video: Path | None) -> dict[str, float]:
    """Each named time (``{"--start": spec}``) as seconds into the dub's footage; a time the footage's
    clock does not have is a one-line ``InputError`` that starts with its name."""
    clock = footage_clock(profile_path, video)
    resolved = {}
    for name, spec in times.items():
        try:
            resolved[name] = resolve_seconds(spec, clock)
        except InputError as exc:
            raise InputError(f"{name} {exc}") from None
    return resolved
