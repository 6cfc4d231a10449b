"""`s2l batch`: many dubs from a timeline CSV, in parallel, with a report and resumption."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from s2l_cli.options import DeviceChoice, DeviceOpt, Json
from s2l_cli.report import emit, stderr
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
    device: DeviceOpt = DeviceChoice.cpu,
    json_out: Json = False,
) -> int:
    """Run the dubs of a timeline CSV; exit 0 when all are done, 1 when some failed, 2 for invalid input.

    One failed job never stops the others. The report lists every job: status, output, seconds, error.
    With --json, stdout carries only JSON lines: job_started, progress, job_done, job_failed, job_skipped,
    summary.
    """
    from s2l_model.batch.runner import run_jobs
    from s2l_model.batch.timeline import read_timeline

    if jobs.suffix.lower() != ".csv":
        raise InputError(
            f"{jobs.name}: s2l batch reads a timeline .csv (subtitle files are not supported yet)"
        )
    if not jobs.is_file():
        raise InputError(f"no such file: {jobs}")
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


def _say(json_out: bool, event: str, text: str, **fields: Any) -> None:
    if json_out:
        emit(event, **fields)
    else:
        stderr.print(text)
