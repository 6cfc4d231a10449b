"""The dubbed timeline written back: the same timeline, each re-voiced range of a take replaced by its render.

For every line that was dubbed, the take under it is split at the line's record in and out, and the gap holds
a clip of the render (source range 0 … the line's duration) at the same record timecodes; the rest of the
take keeps its media and source times, and the audio tracks stay as they were. A line that failed leaves its
take alone and puts a red marker there, its comment saying why.

Media paths in the written timeline are absolute (``file://`` URLs, plain paths in an EDL): the timeline may
be written to, and opened from, anywhere, and FCP 7 XML's ``pathurl`` is a URL by definition. References s2l
resolved relative to the source timeline are rewritten the same way, so they keep pointing at their files.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s2l_model.batch.nle import media_path, otio, save_timeline
from s2l_model.batch.nle_read import NlePlan, Placement
from s2l_model.errors import InputError, ProcessingError

FAILED_MARKER = "s2l: dub failed"


@dataclass(frozen=True)
class WriteBack:
    path: Path
    dubbed: int  # ranges replaced by their render
    marked: int  # failed lines marked on their take


def write_dubbed_timeline(plan: NlePlan, outcomes: dict[str, str | None], path: Path) -> WriteBack:
    """Write ``plan``'s timeline to ``path`` (format from its suffix) with the renders in place.

    ``outcomes``: job id → None when its render is there (done or up to date), else the job's error."""
    ot = otio()
    timeline = plan.timeline.deepcopy()
    edl = path.suffix.lower() == ".edl"
    _absolute_media(ot, timeline, plan, edl)
    by_take: dict[tuple[int, int], list[tuple[Placement, Any]]] = defaultdict(list)
    for job in plan.jobs:
        if job.id in outcomes:
            by_take[(plan.placements[job.id].video_track, plan.placements[job.id].video_item)].append(
                (plan.placements[job.id], job)
            )
    dubbed = marked = 0
    tracks = list(timeline.tracks)
    for (t, k), placed in sorted(by_take.items(), reverse=True):  # from the end: earlier indices stay valid
        track = tracks[t]
        take = track[k]
        record = track.transformed_time_range(take.range_in_parent(), timeline.tracks)
        cuts = sorted(
            ((p.record, job, outcomes[job.id]) for p, job in placed), key=lambda c: c[0].start_time.value
        )
        pieces: list[tuple[Any, Any]] = []  # (clip, its record range)
        cursor = record.start_time
        for line, job, error in cuts:
            if error is not None:
                continue
            if cursor < line.start_time:
                pieces.append(_piece(ot, take, record, cursor, line.start_time))
            pieces.append((_render(ot, job, line, edl), line))
            cursor = line.end_time_exclusive()
            dubbed += 1
        if cursor < record.end_time_exclusive():
            pieces.append(_piece(ot, take, record, cursor, record.end_time_exclusive()))
        for line, _job, error in cuts:
            if error is None:
                continue
            clip, span = next((c, s) for c, s in pieces if s.contains(line.start_time))
            marker = ot.schema.Marker(
                name=FAILED_MARKER,
                marked_range=ot.opentime.TimeRange(
                    clip.trimmed_range().start_time + (line.start_time - span.start_time), line.duration
                ),
                color=ot.schema.MarkerColor.RED,
            )
            marker.comment = error
            if (
                path.suffix.lower() == ".xml"
            ):  # the fcp_xml adapter writes no comment, but a <comment> from here
                marker.metadata["fcp_xml"] = {"comment": error}
            clip.markers.append(marker)
            marked += 1
        del track[k]
        for offset, (clip, _span) in enumerate(pieces):
            track.insert(k + offset, clip)
    if edl:
        timeline = _picture_only(ot, timeline)
    save_timeline(timeline, path)
    return WriteBack(path, dubbed, marked)


def check_writable(plan: NlePlan, path: Path) -> None:
    """Refuse, before anything runs, a ``--timeline-out`` its adapter cannot write for this timeline (the
    FCPX adapter fails at NTSC rates; the AAF adapter writes only timelines read from AAF): the timeline as it
    will be written, without renders, goes to a scratch file first."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="s2l-timeline-") as scratch:
        try:
            write_dubbed_timeline(plan, {}, Path(scratch) / path.name)
        except ProcessingError as exc:
            raise InputError(f"--timeline-out: {exc}") from None


def _piece(ot: Any, take: Any, record: Any, start: Any, end: Any) -> tuple[Any, Any]:
    """The part of ``take`` (record range ``record``) between record times ``start`` and ``end``."""
    piece = take.deepcopy()
    source_start = take.trimmed_range().start_time + (start - record.start_time)
    span = ot.opentime.TimeRange(start, end - start)
    piece.source_range = ot.opentime.TimeRange(source_start, span.duration)
    kept = [m for m in piece.markers if piece.source_range.contains(m.marked_range.start_time)]
    while len(piece.markers):
        piece.markers.pop()
    piece.markers.extend(kept)
    return piece, span


def _render(ot: Any, job: Any, line: Any, edl: bool) -> Any:
    """A clip of ``job``'s render, frames 0 … the line's duration, at the line's rate."""
    rate = line.duration.rate
    whole = ot.opentime.TimeRange(ot.opentime.RationalTime(0, rate), line.duration)
    output = job.output.resolve()
    reference = ot.schema.ExternalReference(
        target_url=str(output) if edl else output.as_uri(), available_range=whole
    )
    clip = ot.schema.Clip(name=job.id, media_reference=reference, source_range=whole)
    clip.metadata["s2l"] = {"job": job.id, "line": job.label}
    return clip


def _absolute_media(ot: Any, timeline: Any, plan: NlePlan, edl: bool) -> None:
    """Every file reference as an absolute URL (a path in an EDL), with the available range the adapters for
    FCP XML and AAF require, from the probe where s2l probed the file."""
    base = plan.path.parent
    for clip in timeline.find_clips():
        reference = clip.media_reference
        url = getattr(reference, "target_url", None)
        file = media_path(url, base) if url else None
        if file is None:
            continue
        file = file.resolve()
        reference.target_url = str(file) if edl else file.as_uri()
        info = plan.media.get(file) or next((i for p, i in plan.media.items() if p.resolve() == file), None)
        if reference.available_range is None and info is not None:
            rate = clip.trimmed_range().duration.rate
            length = (
                ot.opentime.RationalTime(info.video.n_frames, float(info.video.fps)).rescaled_to(rate)
                if info.video is not None
                else ot.opentime.RationalTime.from_seconds(info.duration, rate)
            )
            reference.available_range = ot.opentime.TimeRange(ot.opentime.RationalTime(0, rate), length)


def _picture_only(ot: Any, timeline: Any) -> Any:
    """An EDL (OpenTimelineIO's cmx_3600 writer) holds one video track: the video tracks flattened, top
    over bottom; the audio tracks (the lines) stay in the source timeline."""
    video = [t for t in timeline.tracks if t.kind == ot.schema.TrackKind.Video]
    out = ot.schema.Timeline(name=timeline.name, global_start_time=timeline.global_start_time)
    flat = ot.algorithms.flatten_stack(video) if len(video) > 1 else video[0].deepcopy()
    flat.kind = ot.schema.TrackKind.Video
    out.tracks.append(flat)
    return out
