"""`s2l batch`: many dubs from a timeline CSV, in parallel, with a report and resumption."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from s2l_cli.options import DeviceChoice, DeviceOpt, Json
from s2l_cli.report import Reporter, emit, stderr
from s2l_model.errors import InputError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def batch_cmd(
    jobs: Annotated[
        Path,
        typer.Argument(
            help="A timeline CSV: one dub per row; columns id, profile, speech, output (+ video, start, end, "
            "background, codec). Input paths are relative to the CSV, outputs to --output."
        ),
    ],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="The folder every output is written into (created if missing)."),
    ],
    workers: Annotated[int, typer.Option("--workers", min=1, help="Jobs run at the same time.")] = 1,
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
            help="Subtitle mode: the speaker's profile, or NAME=PROFILE to re-voice only the events of that "
            "actor (ASS Name field).",
        ),
    ] = None,
    speech: Annotated[
        Path | None, typer.Option("--speech", help="Subtitle mode: the dub track, as long as the footage.")
    ] = None,
    video: Annotated[
        Path | None, typer.Option("--video", help="Subtitle mode: the footage to re-voice.")
    ] = None,
    device: DeviceOpt = DeviceChoice.auto,
    json_out: Json = False,
) -> int:
    """Run the dubs of a timeline CSV, or re-voice footage inside the events of a subtitle file.

    Timeline: s2l batch jobs.csv -o renders/ [--workers N] [--resume] [--dry-run]
    Subtitles: s2l batch dub.srt --profile P.prof --speech dub_track.wav --video original.mp4 -o dubbed.mp4
    (new lips only inside subtitle events, with short ramps; every other frame is the original's).

    Exit 0 when all is done, 1 when some job failed, 2 for invalid input. One failed job never stops the
    others. The report lists every job: status, output, seconds, error. With --json, stdout carries only
    JSON lines: job_started, progress, job_done, job_failed, job_skipped, summary.
    """
    from s2l_model.batch.runner import run_jobs
    from s2l_model.batch.subtitles import SUBTITLE_SUFFIXES
    from s2l_model.batch.timeline import read_timeline

    if not jobs.is_file():
        raise InputError(f"no such file: {jobs}")
    if jobs.suffix.lower() in SUBTITLE_SUFFIXES:
        return _subtitles(jobs, output, profiles or [], speech, video, dry_run, device.value, json_out)
    if jobs.suffix.lower() != ".csv":
        raise InputError(
            f"{jobs.name}: give a timeline .csv or a subtitle file ({', '.join(SUBTITLE_SUFFIXES)})"
        )
    if profiles or speech or video:
        raise InputError(
            "--profile, --speech and --video are for subtitle files; a timeline has them per row"
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

    def on_event(event: str, fields: dict[str, Any]) -> None:
        if json_out:
            emit(event, **fields)
        elif event == "job_done":
            stderr.print(f"done   {fields['id']} → {fields['output']} ({fields['seconds']:.1f} s)")
        elif event == "job_failed":
            stderr.print(f"FAILED {fields['id']}: {fields['error']}")
        elif event == "job_skipped":
            stderr.print(f"skip   {fields['id']} (up to date)")

    report = run_jobs(
        timeline, problems, out_dir=output, report_path=report_file, workers=workers, resume=resume,
        device=device.value, on_event=on_event,
    )  # fmt: skip
    counts = report.counts()
    message = f"{counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed"
    message += f"; report: {report_file}"
    _say(json_out, "summary", message, **counts, report=str(report_file))
    return EXIT_FAILED if report.failed else EXIT_OK


def _subtitles(
    path: Path,
    output: Path,
    profiles: list[str],
    speech: Path | None,
    video: Path | None,
    dry_run: bool,
    device: str,
    json_out: bool,
) -> int:
    """Subtitle mode: re-voice ``video`` with ``speech`` inside the events of ``path``."""
    from s2l_model.batch.subtitles import event_problems, read_events
    from s2l_model.dub import DubOptions
    from s2l_model.dub.revoice import revoice
    from s2l_model.media import probe_video

    if not profiles or speech is None or video is None:
        raise InputError(
            "a subtitle file needs --profile, --speech (the dub track) and --video (the footage)"
        )
    for needed in (speech, video):
        if not needed.is_file():
            raise InputError(f"no such file: {needed}")
    by_actor: dict[str, Path] = {}
    plain: list[Path] = []
    for entry in profiles:
        name, sep, value = entry.partition("=")
        if sep and not Path(entry).is_file():
            by_actor[name.strip()] = Path(value)
        else:
            plain.append(Path(entry))
    chosen = {*plain, *by_actor.values()}
    if len(chosen) != 1:
        raise InputError("one speaker per video for now: give one profile (or NAME=PROFILE for one actor)")
    profile = chosen.pop()
    if not profile.is_file():
        raise InputError(f"no such file: {profile}")
    info = probe_video(video)
    assert info.video is not None
    duration = info.video.n_frames / float(info.video.fps)
    events = read_events(path)
    problems = event_problems(events, duration)
    if by_actor and not plain:
        events = [e for e in events if e.actor in by_actor]
        if not events:
            problems.append(f"no event of {', '.join(sorted(by_actor))} in {path.name}")
    if problems:
        if dry_run:
            for message in problems:
                _say(json_out, "problem", f"{path.name}: {message}", message=message)
            return EXIT_USAGE
        raise InputError(f"{path.name}: " + "; ".join(problems))
    if dry_run:
        _say(
            json_out,
            "summary",
            f"{len(events)} events to re-voice, no problems",
            events=len(events),
            problems=0,
        )
        return EXIT_OK
    options = DubOptions(device=device, overwrite=True)
    reporter = Reporter(json_out)
    with reporter.stages() as on_stage:
        result = revoice(
            profile, speech, video, [(e.start, e.end) for e in events], output, options, on_stage
        )
    message = (
        f"wrote {result.output} ({result.frames} frames; new lips in {result.rendered_frames} frames over "
        f"{len(events)} events) in {result.wall_seconds:.1f} s"
    )
    for note in result.notes:
        message += f"\nnote: {note}"
    _say(json_out, "summary", message, output=str(result.output), frames=result.frames,
         rendered_frames=result.rendered_frames, events=len(events), notes=result.notes)  # fmt: skip
    return EXIT_OK


def _say(json_out: bool, event: str, text: str, **fields: Any) -> None:
    if json_out:
        emit(event, **fields)
    else:
        stderr.print(text)
