"""Running a timeline's dub jobs on an executor, with a report written as jobs finish, and resumption.

- The jobs run on the executor the caller gives (``executors.make_executor``: a local process pool, Ray
  tasks); one failing, or crashing, never stops the others.
- The report (JSON) is rewritten atomically after every job, so a batch killed midway leaves a report of
  what finished; ``resume`` skips jobs whose output exists (outputs are atomic, so existing means complete)
  and whose fingerprint — the job's settings and its inputs' sizes and times — matches the report's.
- Events (``job_started``, ``progress``, ``job_done``, ``job_failed``, ``job_skipped``) reach ``on_event``
  in the calling process.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from s2l_model.batch.jobs import DubDone, EventFn, Executor, Outcome, run_one
from s2l_model.batch.timeline import Job, Problem
from s2l_model.media.atomic import write_json

REPORT_KIND = "s2l batch report"


@dataclass
class JobResult:
    id: str
    row: int
    status: str  # "done", "failed" or "skipped"
    output: str | None
    seconds: float = 0.0
    frames: int | None = None
    error: str | None = None
    fingerprint: str | None = None
    footage_frames: list[int] | None = None  # first and last footage frame behind the dub


@dataclass
class BatchReport:
    jobs: list[JobResult] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(r.status == "failed" for r in self.jobs)

    def counts(self) -> dict[str, int]:
        out = {"done": 0, "failed": 0, "skipped": 0}
        for r in self.jobs:
            out[r.status] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"kind": REPORT_KIND, **self.counts(), "jobs": [asdict(r) for r in self.jobs]}


def fingerprint(job: Job) -> str:
    """What makes an output up to date: the job's settings and the size and time of each input."""
    parts: dict[str, Any] = {k: str(v) for k, v in asdict(job).items() if k not in ("row", "label")}
    for name in ("profile", "speech", "video"):
        path = getattr(job, name)
        if path is not None and Path(path).is_file():
            st = Path(path).stat()
            parts[f"{name}_stat"] = [st.st_size, st.st_mtime_ns]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def previous_fingerprints(report: Path) -> dict[str, str]:
    """Output path → fingerprint of the jobs a previous run of this batch finished."""
    try:
        data = json.loads(report.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("kind") != REPORT_KIND:
        return {}
    return {
        j["output"]: j["fingerprint"]
        for j in data.get("jobs", [])
        if isinstance(j, dict)
        and j.get("status") in ("done", "skipped")
        and j.get("output")
        and j.get("fingerprint")
    }


def run_jobs(
    jobs: list[Job],
    problems: list[Problem],
    *,
    executor: Executor,
    out_dir: Path,
    report_path: Path,
    resume: bool = False,
    device: str = "auto",
    on_event: EventFn | None = None,
) -> BatchReport:
    """Run ``jobs`` on ``executor`` (rows with ``problems`` are reported as failed without running) and
    return the report."""
    emit = on_event or (lambda event, fields: None)
    report = BatchReport()
    rows_with_problems: dict[int, list[str]] = {}
    for p in problems:
        rows_with_problems.setdefault(p.row, []).append(p.message)
    for row, messages in sorted(rows_with_problems.items()):
        result = JobResult(id=f"row {row}", row=row, status="failed", output=None, error="; ".join(messages))
        report.jobs.append(result)
        emit("job_failed", asdict(result))
    done_before = previous_fingerprints(report_path) if resume else {}
    pending: list[tuple[Job, str]] = []
    for job in jobs:
        mark = fingerprint(job)
        if resume and job.output.is_file() and done_before.get(str(job.output)) == mark:
            result = JobResult(job.id, job.row, "skipped", str(job.output), fingerprint=mark)
            report.jobs.append(result)
            emit("job_skipped", asdict(result))
        else:
            pending.append((job, mark))
    write_json(report_path, report.to_dict())
    if not pending:
        return report

    marks = {job.id: mark for job, mark in pending}
    to_run = [job for job, _ in pending]
    for job, outcome in executor(to_run, functools.partial(run_one, out_dir=out_dir), device, emit):
        result = _result(job, marks[job.id], outcome)
        report.jobs.append(result)
        # the report first: a batch killed right after announcing a job still knows it is done
        write_json(report_path, report.to_dict())
        emit("job_done" if result.status == "done" else "job_failed", asdict(result))
    report.jobs.sort(key=lambda r: r.row)
    write_json(report_path, report.to_dict())
    return report


def _result(job: Job, mark: str, outcome: Outcome[DubDone]) -> JobResult:
    if isinstance(outcome, str):
        return JobResult(job.id, job.row, "failed", str(job.output), error=outcome, fingerprint=mark)
    frames, seconds, (first, last) = outcome
    result = JobResult(job.id, job.row, "done", str(job.output), seconds, frames, fingerprint=mark)
    result.footage_frames = [first, last]
    return result
