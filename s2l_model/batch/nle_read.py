"""An editor's timeline read as dub jobs (the convention of docs/NLE.md), validated as a whole.

- **Dub lines** are the clips of the *dub tracks* (audio tracks that say so, see ``_dub_tracks``); each is one
  job. Its speech is the clip's media over the clip's source range (a line cut from a longer recording dubs
  only its part).
- **Takes** are video clips. A dub line re-voices the take under it: the topmost video track with a clip
  there. The footage is that take's media over the matching source range: start = the take's source start
  + (the line's record start − the take's record start), for as many frames as the line lasts.
- **The speaker's profile**: the line's ``metadata["s2l"]["profile"]``, else the take's (paths relative to the
  timeline), else ``--profile NAME=P`` with NAME the ``NAME:`` prefix of the line's name, else with NAME the
  track's name (or its label ``A1``, ``A2``, ...), else a plain ``--profile P``.

All arithmetic is in whole frames at the timeline's rate (OpenTimelineIO ``RationalTime``), turned into
seconds only at the end as frame / fps with the footage's exact probed rate (the dub rounds ``start * fps``
back to the same frame). Every problem names its track, clip and record timecode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from s2l_model.batch.nle import NleProblem, Where, edl_media, load_timeline, media_path, otio, timecode
from s2l_model.batch.timeline import Job, output_path
from s2l_model.errors import InputError
from s2l_model.media import MediaInfo, probe, probe_video

_PREFIX = re.compile(r"^\s*([^:]{1,64}?)\s*:")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Placement:
    """Where a job's line sits, for writing the timeline back: the take it re-voices and its record range."""

    video_track: int  # index in timeline.tracks
    video_item: int  # index of the take in that track
    record: Any  # opentime.TimeRange of the line, in the timeline's stack time
    fps: Fraction  # the take's footage rate (the render's)


@dataclass
class NlePlan:
    """A timeline read as jobs: what runs, what is wrong, what is left alone, and where each job sits."""

    path: Path
    timeline: Any  # opentimelineio.schema.Timeline
    jobs: list[Job] = field(default_factory=list)
    problems: list[NleProblem] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # audio tracks that are no dub tracks
    placements: dict[str, Placement] = field(default_factory=dict)
    media: dict[Path, MediaInfo] = field(default_factory=dict)  # every probed file


@dataclass(frozen=True)
class _Take:
    track: int
    item: int
    clip: Any
    record: Any  # TimeRange in stack time
    label: str


@dataclass(frozen=True)
class _Context:
    """What every line of one timeline is read against."""

    ot: Any  # the opentimelineio module
    plan: NlePlan
    base: Path  # the timeline's folder: media and metadata paths are relative to it
    out_dir: Path
    takes: list[_Take]
    mapping: dict[str, Path]  # --profile entries by casefolded NAME ("" the default)


def read_nle_timeline(
    path: Path, out_dir: Path, profiles: dict[str, Path], dub_tracks: list[str] | None = None
) -> NlePlan:
    """The jobs of an editor's timeline and every problem in it.

    ``profiles``: ``--profile`` entries by NAME (``""`` is the default); ``dub_tracks``: ``--dub-tracks``
    (names or labels), or None for the tracks that mark themselves. Raises ``InputError`` only when the file
    cannot be read as a timeline at all."""
    ot = otio()
    plan = NlePlan(path, None)
    edl_rate = _edl_rate(path, path.parent, plan) if path.suffix.lower() == ".edl" else None
    timeline = plan.timeline = load_timeline(path, edl_rate)
    tracks = list(timeline.tracks)
    labels = _labels(ot, tracks)
    takes = [
        _Take(t, k, item, _record(track, item, timeline), labels[t])
        for t, track in enumerate(tracks)
        if track.kind == ot.schema.TrackKind.Video and track.enabled  # a hidden track is no picture
        for k, item in enumerate(track)
        if isinstance(item, ot.schema.Clip) and item.enabled
    ]
    mapping = {name.casefold(): p for name, p in profiles.items()}
    context = _Context(ot, plan, path.parent, out_dir, takes, mapping)
    chosen = _dub_tracks(ot, tracks, labels, mapping, dub_tracks, plan)
    seen: set[str] = set()
    lines: list[tuple[_Take, Any, Where]] = []  # (take, record range, where) of every line, for overlaps
    for t in chosen:
        for item in tracks[t]:
            if isinstance(item, (ot.schema.Gap, ot.schema.Transition)) or not item.enabled:
                continue
            record = _record(tracks[t], item, timeline)
            where = Where(labels[t], item.name, timecode(record.start_time, timeline.global_start_time))
            if not isinstance(item, ot.schema.Clip):
                plan.problems.append(NleProblem(where, f"a {type(item).__name__} on a dub track: use clips"))
                continue
            found: list[str] = []
            job_id = _unique_id(item.name or f"{labels[t]}_{len(seen) + 1}", seen)
            job, take = _job(context, item, record, tracks[t], where, job_id, found)
            plan.problems += [NleProblem(where, message) for message in found]
            if take is not None:
                lines.append((take, record, where))
                if job is not None and not found:
                    plan.jobs.append(job)
                    plan.placements[job.id] = Placement(take.track, take.item, record, job.fps or Fraction(0))
    plan.problems += _overlaps(lines)
    bad = {str(p.where) for p in plan.problems}
    plan.jobs = [j for j in plan.jobs if j.label not in bad]
    if not chosen:
        audio = [labels[t] for t, tr in enumerate(tracks) if tr.kind == ot.schema.TrackKind.Audio]
        plan.problems.append(
            NleProblem(
                Where(),
                f"no dub tracks among the audio tracks ({', '.join(audio) or 'none'}): name them with "
                "--dub-tracks, map them with --profile NAME=P, or mark them with metadata s2l",
            )
        )
    return plan


def _record(track: Any, item: Any, timeline: Any) -> Any:
    """``item``'s range in the timeline's stack time (an EDL's tracks start at their first record in)."""
    return track.transformed_time_range(item.range_in_parent(), timeline.tracks)


def _edl_rate(path: Path, base: Path, plan: NlePlan) -> float | None:
    """An EDL's frame rate: that of the first footage it names (an EDL does not say its own rate)."""
    for name in edl_media(path):
        file = media_path(name, base)
        info = _probe(file, plan, video=True) if file is not None else None
        if isinstance(info, MediaInfo) and info.video is not None:
            return float(info.video.fps)
    return None


def _labels(ot: Any, tracks: list[Any]) -> list[str]:
    """``V1``, ``V2``, ... and ``A1``, ``A2``, ... from the bottom up, with the track's name if it has one."""
    out: list[str] = []
    counts = {"V": 0, "A": 0}
    for track in tracks:
        kind = "V" if track.kind == ot.schema.TrackKind.Video else "A"
        counts[kind] += 1
        label = f"{kind}{counts[kind]}"
        name = (track.name or "").strip()
        out.append(label if not name or name == label else f"{label} ({name})")
    return out


def _names(track: Any, label: str) -> set[str]:
    """What ``--dub-tracks`` and ``--profile NAME=`` may call a track: its label and its name."""
    return {label.split(" ")[0].casefold(), (track.name or "").strip().casefold()} - {""}


def _dub_tracks(
    ot: Any,
    tracks: list[Any],
    labels: list[str],
    mapping: dict[str, Path],
    asked: list[str] | None,
    plan: NlePlan,
) -> list[int]:
    """The audio tracks whose clips are dub lines. With ``--dub-tracks``: exactly those. Otherwise a track is
    one when it says so: ``metadata["s2l"]`` on the track or on one of its clips, its name in a ``--profile
    NAME=`` entry, or a clip named ``NAME: ...`` with NAME in one. Music, effects and production sound carry
    none of these and are left alone (listed in ``plan.ignored``)."""
    audio = [t for t, track in enumerate(tracks) if track.kind == ot.schema.TrackKind.Audio]
    if asked is not None:
        wanted = {name.strip().casefold(): name.strip() for name in asked if name.strip()}
        chosen = [t for t in audio if _names(tracks[t], labels[t]) & wanted.keys()]
        known = set().union(*(_names(tracks[t], labels[t]) for t in audio)) if audio else set()
        for name in sorted(wanted.keys() - known):
            plan.problems.append(NleProblem(Where(), f"--dub-tracks: no audio track {wanted[name]!r}"))
    else:
        chosen = [t for t in audio if _marked(ot, tracks[t], labels[t], mapping)]
    plan.ignored = [labels[t] for t in audio if t not in chosen]
    return chosen


def _marked(ot: Any, track: Any, label: str, mapping: dict[str, Path]) -> bool:
    named = {k for k in mapping if k}
    if "s2l" in track.metadata or _names(track, label) & named:
        return True
    for item in track:
        if isinstance(item, ot.schema.Clip) and (
            "s2l" in item.metadata or (_prefix(item.name) or "") in named
        ):
            return True
    return False


def _job(
    context: _Context, line: Any, record: Any, track: Any, where: Where, job_id: str, found: list[str]
) -> tuple[Job | None, _Take | None]:
    """One dub line as a job (None with the reasons in ``found``), and the take under it."""
    plan, base = context.plan, context.base
    speech = _file(line, base, "speech", found)
    take = _take_under(record, context.takes, found)
    profile = _profile(line, take, track, where.track, context.mapping, base, found)
    output = output_path(f"{job_id}.mp4", context.out_dir, found)
    if take is None:
        return None, None
    video = _file(take.clip, base, f"take {take.clip.name!r}", found)
    if any(isinstance(effect, context.ot.schema.TimeEffect) for effect in take.clip.effects):
        found.append(f"take {take.clip.name!r} has a speed effect: s2l needs its frames one to one")
    rate = record.start_time.rate
    lead = _frames(record.start_time - take.record.start_time, rate, "the line's record start", found)
    duration = _frames(record.duration, rate, "the line's duration", found)
    take_in = _frames(take.clip.trimmed_range().start_time, rate, "the take's source start", found)
    if video is None or lead is None or duration is None or take_in is None:
        return None, take
    info = _probe(video, plan, video=True)
    if isinstance(info, str):
        found.append(info)
        return None, take
    assert info.video is not None
    fps = info.video.fps
    if abs(float(fps) - rate) > 0.01:
        found.append(
            f"footage {video.name} is {float(fps):.3f} fps on a {rate:.3f} fps timeline: conform it to the "
            "timeline's rate first"
        )
        return None, take
    # Source times are on the media's own clock: an editor's take of camera footage that starts at
    # 01:00:00:00 has its source in at 01:00:10:00 for frame 250 (at 25 fps), not frame 90250.
    first = take_in + lead - _media_start(take.clip, info, rate)
    if first < 0:
        found.append(f"take {take.clip.name!r} starts {-first} frames before the first frame of {video.name}")
        return None, take
    if first + duration > info.video.n_frames:
        found.append(
            f"needs frames {first}-{first + duration - 1} of {video.name}, which has {info.video.n_frames}"
        )
    speech_start = (line.trimmed_range().start_time - _available_start(line)).to_seconds()
    seconds = Fraction(duration) / fps
    if speech is not None:
        heard = _probe(speech, plan, video=False)
        if isinstance(heard, str):
            found.append(heard)
        else:
            length = heard.audio[0].duration or heard.duration
            end = speech_start + float(seconds)
            if end > length + 0.5 / float(fps):
                found.append(
                    f"needs {speech.name} from {speech_start:.3f} s to {end:.3f} s; it lasts {length:.3f} s"
                )
    if found or speech is None or profile is None or output is None:
        return None, take
    return (
        Job(
            id=job_id,
            row=len(plan.jobs) + 1,
            profile=profile,
            speech=speech,
            output=output,
            video=video,
            start=float(Fraction(first) / fps),
            end=float(Fraction(first + duration) / fps),
            background="loop",  # the range is as long as the line: it plays through, never wraps
            speech_start=speech_start,
            speech_duration=float(seconds),
            label=str(where),
            fps=fps,
        ),
        take,
    )


def _take_under(record: Any, takes: list[_Take], found: list[str]) -> _Take | None:
    """The clip of the topmost video track with a clip over ``record``; it must cover all of it."""
    for track in sorted({t.track for t in takes}, reverse=True):  # OpenTimelineIO stacks bottom first
        over = [t for t in takes if t.track == track and _overlap(t.record, record)]
        if not over:
            continue
        if len(over) == 1 and _contains(over[0].record, record):
            return over[0]
        if len(over) > 1:
            names = " and ".join(repr(t.clip.name) for t in over)
            found.append(f"straddles video clips {names} on {over[0].label}: a line dubs one take")
        else:
            found.append(f"is only partly over video clip {over[0].clip.name!r} on {over[0].label}")
        return None
    found.append("has no video under it")
    return None


def _overlaps(lines: list[tuple[_Take, Any, Where]]) -> list[NleProblem]:
    """Two lines over the same take at the same time (on different tracks): one render cannot hold both."""
    out: list[NleProblem] = []
    for k, (take, record, where) in enumerate(lines):
        for other_take, other, other_where in lines[:k]:
            if (take.track, take.item) == (other_take.track, other_take.item) and _overlap(record, other):
                out.append(NleProblem(where, f"overlaps {other_where} over the same take {take.clip.name!r}"))
    return out


def _profile(
    line: Any,
    take: _Take | None,
    track: Any,
    label: str,
    mapping: dict[str, Path],
    base: Path,
    found: list[str],
) -> Path | None:
    for source in (line, take.clip if take is not None else None):
        text = _s2l(source).get("profile") if source is not None else None
        if text:
            return _existing(base / str(text), "profile", found)
    for name in [_prefix(line.name) or "\0", *sorted(_names(track, label)), ""]:  # the most specific first
        if name in mapping:
            return _existing(mapping[name], "profile", found)
    found.append(
        f"no profile: set metadata s2l.profile, or pass --profile {label.split(' ')[0]}=SPEAKER.prof"
    )
    return None


def _file(clip: Any, base: Path, what: str, found: list[str]) -> Path | None:
    url = getattr(clip.media_reference, "target_url", None)
    if not url:
        found.append(f"{what}: the clip has no media file ({type(clip.media_reference).__name__})")
        return None
    path = media_path(url, base)
    if path is None:
        found.append(f"{what}: {url} is not a local file")
        return None
    return _existing(path, what, found)


def _existing(path: Path, what: str, found: list[str]) -> Path | None:
    if not path.is_file():
        found.append(f"{what} file not found: {path}")
        return None
    return path


def _probe(path: Path, plan: NlePlan, *, video: bool) -> MediaInfo | str:
    """``path`` probed once per batch; the one-line reason when it is not usable media."""
    if path not in plan.media:
        try:
            plan.media[path] = probe_video(path) if video else probe(path)
        except InputError as exc:
            return str(exc)
    info = plan.media[path]
    if video and info.video is None:
        return f"not a video (no video stream): {path}"
    if not video and not info.has_audio:
        return f"no audio track in {path}"
    return info


def _available_start(clip: Any) -> Any:
    """Where the clip's media starts on its own clock (``available_range``; time 0 where it has none)."""
    available = getattr(clip.media_reference, "available_range", None)
    start = clip.trimmed_range().start_time
    return available.start_time if available is not None else start - start


def _media_start(clip: Any, info: MediaInfo, rate: float) -> int:
    """The frame number, on the timeline's clock, of the media's first frame: its ``available_range``
    start where the timeline says (OTIO, FCP XML), else the file's own source timecode (an EDL's source
    timecodes are the tape's), else 0."""
    from s2l_model.media.timecode import parse_timecode, timecode_frames

    available = getattr(clip.media_reference, "available_range", None)
    if available is not None:
        return round(available.start_time.value_rescaled_to(rate))
    assert info.video is not None
    if info.video.timecode:
        return timecode_frames(parse_timecode(info.video.timecode), info.video.fps)
    return 0


def _frames(time: Any, rate: float, what: str, found: list[str]) -> int | None:
    """``time`` as a whole number of frames at ``rate``; edits between frames are refused."""
    value = time.value_rescaled_to(rate)
    frames = round(value)
    if abs(value - frames) > 1e-3:
        found.append(f"{what} falls between frames ({value:.3f} at {rate:.3f} fps)")
        return None
    return frames


def _overlap(a: Any, b: Any) -> bool:
    return bool(a.start_time < b.end_time_exclusive() and b.start_time < a.end_time_exclusive())


def _contains(outer: Any, inner: Any) -> bool:
    return bool(
        outer.start_time <= inner.start_time and inner.end_time_exclusive() <= outer.end_time_exclusive()
    )


def _s2l(obj: Any) -> dict[str, Any]:
    """An object's ``metadata["s2l"]`` as a dict (empty when absent or not a table)."""
    value = obj.metadata.get("s2l") if "s2l" in obj.metadata else None
    return dict(value) if hasattr(value, "items") else {}


def _prefix(name: str) -> str | None:
    match = _PREFIX.match(name or "")
    return match.group(1).casefold() if match else None


def _unique_id(name: str, seen: set[str]) -> str:
    """A job id from a clip name: letters, digits, ``.``, ``_``, ``-``; unique, also ignoring case."""
    stem = _UNSAFE.sub("_", name.strip()).strip("._-")[:120] or "line"
    candidate, n = stem, 1
    while candidate.casefold() in seen:
        n += 1
        candidate = f"{stem}-{n}"
    seen.add(candidate.casefold())
    return candidate
