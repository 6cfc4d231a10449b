"""Running many dub jobs: a local process pool, a report written as jobs finish, resumption.

- Each job runs in a worker process (one failing, or crashing, never stops the others); a worker keeps the
  profiles it has loaded, so a profile is read once per worker, not once per job.
- Workers share the cores: each gets ``cores // workers`` torch threads.
- The report (JSON) is rewritten atomically after every job, so a batch killed midway leaves a report of
  what finished; ``resume`` skips jobs whose output exists (outputs are atomic, so existing means complete)
  and whose fingerprint — the job's settings and its inputs' sizes and times — matches the report's.
- Events (``job_started``, ``progress``, ``job_done``, ``job_failed``) reach ``on_event`` in the calling
  process, from a queue the workers write to.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import multiprocessing
import os
import queue
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from s2l_model.batch.timeline import Job, Problem
from s2l_model.media.atomic import write_json

EventFn = Callable[[str, dict[str, Any]], None]
#: What running a job gives: (frames, seconds) when done, the one-line error when it failed.
Outcome = tuple[int, float] | str
REPORT_KIND = "s2l batch report"
PROGRESS_EVERY_S = 0.5


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
    parts: dict[str, Any] = {k: str(v) for k, v in asdict(job).items() if k != "row"}
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
    out_dir: Path,
    report_path: Path,
    workers: int | None = 1,
    resume: bool = False,
    device: str = "auto",
    executor: str = "local",
    address: str | None = None,
    on_event: EventFn | None = None,
) -> BatchReport:
    """Run ``jobs`` (rows with ``problems`` are reported as failed without running) and return the report.

    ``executor``: "local" (a process pool of ``workers``) or "ray" (Ray tasks on the cluster at ``address``,
    or a local Ray instance; ``workers`` caps the jobs in flight, None: as many as the cluster fits).
    """
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
    if executor == "ray":
        from s2l_model.batch.ray_executor import run_on_ray

        outcomes = run_on_ray(to_run, out_dir, device, emit, workers=workers, address=address)
    elif executor == "local":
        outcomes = run_local(to_run, out_dir, device, emit, workers=workers or 1)
    else:
        raise ValueError(f"unknown executor {executor!r}")
    for job, outcome in outcomes:
        result = _result(job, marks[job.id], outcome)
        report.jobs.append(result)
        # the report first: a batch killed right after announcing a job still knows it is done
        write_json(report_path, report.to_dict())
        emit("job_done" if result.status == "done" else "job_failed", asdict(result))
    report.jobs.sort(key=lambda r: r.row)
    write_json(report_path, report.to_dict())
    return report


def _result(job: Job, mark: str, outcome: Outcome) -> JobResult:
    if isinstance(outcome, str):
        return JobResult(job.id, job.row, "failed", str(job.output), error=outcome, fingerprint=mark)
    frames, seconds = outcome
    return JobResult(job.id, job.row, "done", str(job.output), seconds, frames, fingerprint=mark)


def error_line(exc: BaseException) -> str:
    """The first line of an exception's message (its class name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def run_local(
    jobs: list[Job], out_dir: Path, device: str, emit: EventFn, *, workers: int = 1
) -> Iterator[tuple[Job, Outcome]]:
    """Run ``jobs`` in a local process pool; yield each job with its outcome as it finishes."""
    workers = max(1, min(workers, len(jobs)))
    threads = max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("spawn")  # no fork of a process that holds torch's threads
    with context.Manager() as manager:
        events = manager.Queue()
        with cf.ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(threads,)
        ) as pool:
            futures = {pool.submit(run_one, job, out_dir, device, events): job for job in jobs}
            remaining = set(futures)
            while remaining:
                drain(events, emit)
                finished, remaining = cf.wait(remaining, timeout=0.2, return_when=cf.FIRST_COMPLETED)
                for future in finished:
                    drain(events, emit)
                    try:
                        outcome: Outcome = future.result()
                    except cf.process.BrokenProcessPool:
                        outcome = "the worker process died (out of memory or killed)"
                    except Exception as exc:  # the job's own failure
                        outcome = error_line(exc)
                    yield futures[future], outcome
            drain(events, emit)


def drain(events: Any, emit: EventFn) -> None:
    """Pass on the events the workers have queued so far (``queue.Empty`` ends it; Ray's subclasses it)."""
    while True:
        try:
            event, fields = events.get_nowait()
        except queue.Empty:
            return
        emit(event, fields)


# ----------------------------------------------------------------------------------------------- worker

_PROFILES: dict[tuple[str, str], Any] = {}


def _init_worker(threads: int) -> None:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    torch.set_num_threads(threads)


def run_one(job: Job, out_dir: Path, device: str, events: Any) -> tuple[int, float]:
    """Run one job in a worker; returns (frames, seconds). Raises on failure (the message is the error).

    ``events`` is anything with ``put((event, fields))``: a manager queue locally, a Ray queue on a cluster.
    Profiles stay loaded in the worker process for its next jobs."""
    from s2l_model.device import choose_device
    from s2l_model.dub import DubOptions, dub
    from s2l_model.profile.speaker import SpeakerProfile

    started = time.monotonic()
    events.put(("job_started", {"id": job.id, "row": job.row, "output": str(job.output)}))
    job.output.parent.mkdir(parents=True, exist_ok=True)
    if not job.output.parent.resolve().is_relative_to(out_dir.resolve()):  # a symlink inside out_dir
        raise ValueError(f"output {job.output} resolves outside the output folder")
    dev = choose_device(device)
    key = (str(job.profile.resolve()), str(dev))
    if key not in _PROFILES:
        _PROFILES[key] = SpeakerProfile.load(job.profile, dev)
    last = [0.0]

    def on_stage(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_S or done >= total:
            last[0] = now
            events.put(("progress", {"id": job.id, "stage": stage, "done": done, "total": total}))

    options = DubOptions(
        background=job.background,  # type: ignore[arg-type]
        start=job.start,
        end=job.end,
        video=job.video,
        codec=job.codec,  # type: ignore[arg-type]
        device=device,
        overwrite=True,
    )
    result = dub(job.profile, job.speech, job.output, options, on_stage=on_stage, profile=_PROFILES[key])
    return result.frames, round(time.monotonic() - started, 2)
