"""`s2l batch`: many dubs from a timeline CSV or an editor's timeline (OTIO, FCP XML, EDL, AAF), in parallel,
with a report and resumption; re-voicing inside subtitle events."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from s2l_cli.options import DeviceChoice, DeviceOpt, Json
from s2l_cli.report import Reporter, emit, stderr
from s2l_model.errors import InputError

if TYPE_CHECKING:
    from s2l_model.batch.subtitles import Casting

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class Executor(StrEnum):
    local = "local"
    ray = "ray"


def batch_cmd(
    jobs: Annotated[
        Path,
        typer.Argument(
            help="A timeline CSV: one dub per row; columns id, profile, speech, output (+ video, start, end, "
            "background, codec). Input paths are relative to the CSV, outputs to --output. Or an editor's "
            "timeline (.otio, .xml, .fcpxml, .edl, .aaf; pip install 's2l\\[nle]'): one dub per clip of "
            "the dub tracks, over the video clip under it (docs/NLE.md)."
        ),
    ],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="The folder every output is written into (created if missing)."),
    ],
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="Jobs run at the same time (default: 1 locally; with Ray, as many as the cluster fits).",
            show_default=False,
        ),
    ] = None,
    executor: Annotated[
        Executor,
        typer.Option(
            "--executor",
            help="local: a process pool on this machine (a subtitle file: this process). ray: Ray tasks "
            "(pip install 's2l\\[ray]'), a GPU per task where the cluster has GPUs, a subtitle file as one "
            "task; paths must be the same on every node.",
        ),
    ] = Executor.local,
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            help="With --executor ray: the cluster to use, e.g. ray://head:10001 or auto (default: "
            "RAY_ADDRESS if set, else a Ray instance started on this machine for the batch).",
            show_default=False,
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Skip jobs whose output is complete and up to date (from the report)."),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Check every row and list the problems with row numbers; run nothing."
        ),
    ] = False,
    report_path: Annotated[
        Path | None,
        typer.Option("--report", help="Where the JSON report goes (default: OUTPUT/batch_report.json)."),
    ] = None,
    profiles: Annotated[
        list[str] | None,
        typer.Option(
            "--profile",
            help="Subtitle mode: the speaker's profile, or NAME=PROFILE per actor (ASS Name field; repeat "
            "for several actors). Events of actors without a profile keep their lips. Editor's timeline: "
            "NAME=PROFILE for the lines of the audio track NAME (its name or A1, A2, ...) or named 'NAME: "
            "...', a plain PROFILE for the rest (clip metadata s2l.profile comes first).",
        ),
    ] = None,
    dub_tracks: Annotated[
        str | None,
        typer.Option(
            "--dub-tracks",
            help="Editor's timeline: the audio tracks that hold dub lines, e.g. A2,A3 or DIALOG (default: "
            "tracks with s2l metadata or a --profile NAME= entry; other tracks, music and effects, are "
            "left alone).",
            show_default=False,
        ),
    ] = None,
    timeline_out: Annotated[
        Path | None,
        typer.Option(
            "--timeline-out",
            help="Editor's timeline: write it back with each dubbed range's picture replaced by its render "
            "(.otio, .xml, .fcpxml, .edl, .aaf); failed lines get a red marker.",
            show_default=False,
        ),
    ] = None,
    faces: Annotated[
        list[str] | None,
        typer.Option(
            "--face",
            help="Subtitle mode: which face in the footage is the speaker (1 = leftmost, on the first frame "
            "with faces; default: the largest), or NAME=N per actor (needed with several profiles).",
        ),
    ] = None,
    speech: Annotated[
        Path | None, typer.Option("--speech", help="Subtitle mode: the dub track, as long as the footage.")
    ] = None,
    voices: Annotated[
        list[str] | None,
        typer.Option(
            "--tts",
            help="Subtitle mode without a dub track: speak each event's text with this offline voice "
            "(pip install 's2l\\[tts]'; a voice name, or a piper .onnx file), fitted to the event; "
            "NAME=VOICE per actor.",
        ),
    ] = None,
    video: Annotated[
        Path | None, typer.Option("--video", help="Subtitle mode: the footage to re-voice.")
    ] = None,
    device: DeviceOpt = DeviceChoice.auto,
    json_out: Json = False,
) -> int:
    """Run the dubs of a timeline CSV, or re-voice footage inside the events of a subtitle file.

    Timeline: s2l batch jobs.csv -o renders/ [--workers N] [--resume] [--dry-run] [--executor ray]
    Subtitles: s2l batch dub.srt --profile P.prof --speech dub_track.wav --video original.mp4 -o dubbed.mp4
    [--executor ray] (new lips only inside subtitle events, with short ramps; every other frame is the
    original's).
    Several actors (ASS Name): --profile ANNA=anna.prof --face ANNA=1 --profile BEN=ben.prof --face BEN=2.
    No dub track: --tts VOICE speaks the subtitles' text (a translated subtitle file becomes a dubbed video).
    Editor's timeline: s2l batch scene.otio -o renders/ --profile DIALOG=anna.prof --timeline-out dubbed.otio
    (video tracks hold the takes, audio clips of the dub tracks the new lines; each line is one job, dubbed
    onto the take under it over the same frames; outputs renders/<clip name>.mp4; any problem: nothing runs,
    exit 2; docs/NLE.md).

    Exit 0 when all is done, 1 when some job failed, 2 for invalid input. One failed job never stops the
    others. The report lists every job: status, output, seconds, error. With --json, stdout carries only
    JSON lines: job_started, progress, job_done, job_failed, job_skipped, summary.
    """
    from s2l_model.batch.executors import make_executor
    from s2l_model.batch.nle import TIMELINE_SUFFIXES
    from s2l_model.batch.runner import run_jobs
    from s2l_model.batch.subtitles import SUBTITLE_SUFFIXES
    from s2l_model.batch.timeline import read_timeline

    if not jobs.is_file():
        raise InputError(f"no such file: {jobs}")
    if address and executor != Executor.ray:
        raise InputError("--address is for --executor ray")
    if jobs.suffix.lower() in TIMELINE_SUFFIXES:
        if speech or video or faces or voices:
            raise InputError(
                "--speech, --video, --face and --tts are for subtitle files; a timeline has them"
            )
        return _editors_timeline(
            jobs, output, profiles or [], dub_tracks, timeline_out, workers, executor, address, resume,
            dry_run, report_path, device.value, json_out,
        )  # fmt: skip
    if dub_tracks is not None or timeline_out is not None:
        raise InputError("--dub-tracks and --timeline-out are for editors' timelines (docs/NLE.md)")
    if jobs.suffix.lower() in SUBTITLE_SUFFIXES:
        if workers or resume:
            raise InputError("--workers and --resume are for timelines: a subtitle file is one job")
        return _subtitles(
            jobs, output, profiles or [], faces or [], voices or [], speech, video, dry_run, device.value,
            executor, address, json_out,
        )  # fmt: skip
    if jobs.suffix.lower() != ".csv":
        raise InputError(
            f"{jobs.name}: give a timeline .csv, an editor's timeline ({', '.join(TIMELINE_SUFFIXES)}) or a "
            f"subtitle file ({', '.join(SUBTITLE_SUFFIXES)})"
        )
    if profiles or speech or video or faces or voices:
        raise InputError(
            "--profile, --speech, --video, --face and --tts are for subtitle files; a timeline has them "
            "per row"
        )
    if output.exists() and not output.is_dir():
        raise InputError(f"--output must be a folder: {output}")
    timeline, problems = read_timeline(jobs, output)
    file_problems = [p for p in problems if p.row <= 1]
    if file_problems:
        raise InputError(f"{jobs.name}: " + "; ".join(str(p) for p in file_problems))
    if dry_run:
        for p in problems:
            _say(json_out, "problem", f"{jobs.name}: {p}", row=p.row, message=p.message)
        for job in timeline:
            _say(json_out, "job", f"row {job.row}: {job.id} → {job.output}", id=job.id, row=job.row,
                 output=str(job.output))  # fmt: skip
        _say(json_out, "summary", f"{len(timeline)} jobs ready, {len(problems)} problems",
             jobs=len(timeline), problems=len(problems))  # fmt: skip
        return EXIT_USAGE if problems else EXIT_OK
    output.mkdir(parents=True, exist_ok=True)
    report_file = report_path or output / "batch_report.json"

    report = run_jobs(
        timeline, problems, executor=make_executor(executor.value, workers=workers, address=address),
        out_dir=output, report_path=report_file, resume=resume, device=device.value,
        on_event=_job_events(json_out),
    )  # fmt: skip
    counts = report.counts()
    message = f"{counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed"
    message += f"; report: {report_file}"
    _say(json_out, "summary", message, **counts, report=str(report_file))
    return EXIT_FAILED if report.failed else EXIT_OK


def _job_events(json_out: bool) -> Callable[[str, dict[str, Any]], None]:
    def on_event(event: str, fields: dict[str, Any]) -> None:
        if json_out:
            emit(event, **fields)
        elif event == "job_done":
            stderr.print(f"done   {fields['id']} → {fields['output']} ({fields['seconds']:.1f} s)")
        elif event == "job_failed":
            stderr.print(f"FAILED {fields['id']}: {fields['error']}")
        elif event == "job_skipped":
            stderr.print(f"skip   {fields['id']} (up to date)")

    return on_event


def _editors_timeline(
    path: Path,
    output: Path,
    profiles: list[str],
    dub_tracks: str | None,
    timeline_out: Path | None,
    workers: int | None,
    executor: Executor,
    address: str | None,
    resume: bool,
    dry_run: bool,
    report_path: Path | None,
    device: str,
    json_out: bool,
) -> int:
    """An editor's timeline: validated as a whole (any problem: nothing runs, exit 2), one job per dub line,
    and with --timeline-out the timeline written back with the renders in place."""
    from s2l_model.batch.executors import make_executor
    from s2l_model.batch.nle import adapter_for
    from s2l_model.batch.nle_read import read_nle_timeline
    from s2l_model.batch.nle_write import check_writable, write_dubbed_timeline
    from s2l_model.batch.runner import run_jobs
    from s2l_model.media import check_output_path

    if output.exists() and not output.is_dir():
        raise InputError(f"--output must be a folder: {output}")
    if timeline_out is not None:
        adapter_for(timeline_out)
        check_output_path(timeline_out)
    mapping = {k: Path(v) for k, v in _pairs("--profile", profiles, lambda e: Path(e).is_file()).items()}
    tracks = dub_tracks.split(",") if dub_tracks is not None else None
    plan = read_nle_timeline(path, output, mapping, tracks)
    for name in plan.ignored:
        _say(json_out, "ignored_track", f"{path.name}: {name} is no dub track: left alone", track=name)
    for p in plan.problems:
        _say(json_out, "problem", f"{path.name}: {p}", track=p.where.track, clip=p.where.clip,
             timecode=p.where.timecode, message=p.message)  # fmt: skip
    if timeline_out is not None and not plan.problems:
        check_writable(plan, timeline_out)
    if dry_run or plan.problems:
        for job in plan.jobs:
            _say(json_out, "job", f"{job.label}: {job.id} → {job.output}", id=job.id, line=job.label,
                 output=str(job.output), video=str(job.video), start=job.start, end=job.end)  # fmt: skip
        _say(json_out, "summary", f"{len(plan.jobs)} jobs ready, {len(plan.problems)} problems",
             jobs=len(plan.jobs), problems=len(plan.problems))  # fmt: skip
        return EXIT_USAGE if plan.problems else EXIT_OK
    output.mkdir(parents=True, exist_ok=True)
    report_file = report_path or output / "batch_report.json"
    report = run_jobs(
        plan.jobs, [], executor=make_executor(executor.value, workers=workers, address=address),
        out_dir=output, report_path=report_file, resume=resume, device=device, on_event=_job_events(json_out),
    )  # fmt: skip
    counts = report.counts()
    message = f"{counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed"
    message += f"; report: {report_file}"
    fields: dict[str, Any] = {**counts, "report": str(report_file)}
    if timeline_out is not None:
        outcomes = {r.id: (r.error or "failed") if r.status == "failed" else None for r in report.jobs}
        written = write_dubbed_timeline(plan, outcomes, timeline_out)
        message += f"; timeline: {written.path} ({written.dubbed} dubbed, {written.marked} marked failed)"
        fields["timeline"] = str(written.path)
    _say(json_out, "summary", message, **fields)
    return EXIT_FAILED if report.failed else EXIT_OK


def _pairs(
    option: str, entries: list[str], is_plain: Callable[[str], bool] = lambda entry: False
) -> dict[str, str]:
    """``NAME=VALUE`` entries by name; a plain ``VALUE`` (or one ``is_plain`` accepts whole, such as an
    existing file whose name has a ``=``) is the default, under ``""``."""
    out: dict[str, str] = {}
    for entry in entries:
        name, sep, value = entry.partition("=")
        if not sep or is_plain(entry):
            name, value = "", entry
        name = name.strip()
        if name in out:
            who = f"{name}=" if name else "a default "
            raise InputError(f"{option}: {who}value is given twice")
        out[name] = value.strip()
    return out


def _subtitles(
    path: Path,
    output: Path,
    profiles: list[str],
    faces: list[str],
    voices: list[str],
    speech: Path | None,
    video: Path | None,
    dry_run: bool,
    device: str,
    executor: Executor,
    address: str | None,
    json_out: bool,
) -> int:
    """Subtitle mode: re-voice ``video`` inside the events of ``path``, with ``speech`` or TTS voices."""
    from s2l_model.batch.executors import make_executor
    from s2l_model.pipelines.subtitles import REQUIREMENTS, SubtitleOptions, plan_subtitles, revoice_subtitles

    if video is None:
        raise InputError(REQUIREMENTS)
    options = SubtitleOptions(path, video, output, _casting(profiles, faces, voices), speech, device)
    if dry_run:
        plan = plan_subtitles(options)
        for message in plan.problems:
            _say(json_out, "problem", f"{path.name}: {message}", message=message)
        if plan.problems:
            return EXIT_USAGE
        _say(json_out, "summary", f"{plan.events} events to re-voice, no problems", events=plan.events,
             problems=0)  # fmt: skip
        return EXIT_OK
    # a subtitle file is one job: in this process, or one Ray task
    on_ray = make_executor("ray", address=address) if executor == Executor.ray else None
    with Reporter(json_out).stages() as on_stage:
        result = revoice_subtitles(options, on_stage, on_ray)
    message = (
        f"wrote {result.output} ({result.frames} frames; new lips in {result.rendered_frames} frames over "
        f"{result.events} events) in {result.wall_seconds:.1f} s"
    )
    for note in result.notes:
        message += f"\nnote: {note}"
    _say(json_out, "summary", message, output=str(result.output), frames=result.frames,
         rendered_frames=result.rendered_frames, events=result.events, notes=result.notes)  # fmt: skip
    return EXIT_OK


def _casting(profiles: list[str], faces: list[str], voices: list[str]) -> Casting:
    """The ``--profile``, ``--face`` and ``--tts`` entries (``NAME=VALUE`` or a default) as a casting."""
    from s2l_model.batch.subtitles import Casting

    face_numbers: dict[str, int] = {}
    for name, value in _pairs("--face", faces).items():
        if not value.isdigit() or int(value) < 1:
            raise InputError(f"--face {name + '=' if name else ''}{value}: a face number from 1 (leftmost)")
        face_numbers[name] = int(value)
    return Casting(
        profiles={k: Path(v) for k, v in _pairs("--profile", profiles, lambda e: Path(e).is_file()).items()},
        faces=face_numbers,
        voices=_pairs("--tts", voices),
    )


def _say(json_out: bool, event: str, text: str, **fields: Any) -> None:
    if json_out:
        emit(event, **fields)
    else:
        stderr.print(text)
