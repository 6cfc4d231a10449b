"""What the executors run: a job function, what it gives, the events it sends, and the timeline's dub job.

A job function is a plain, picklable function ``run(job, device, events) -> result`` that raises on failure
(its message is the job's error). An executor (``local.LocalPool``, ``ray_executor.RayCluster``) runs job
functions wherever it runs them and yields each job with its ``Outcome`` as it finishes; the same function
therefore gives the same output wherever it runs. Events are ``(name, fields)`` pairs a job puts on a queue
and the executor passes on, in the calling process, to ``emit(name, fields)``.
"""

from __future__ import annotations

import os
import queue
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

from s2l_model.batch.timeline import Job
from s2l_model.progress import StageFn

J = TypeVar("J")
R = TypeVar("R")

EventFn = Callable[[str, dict[str, Any]], None]
#: What an executor gives for a job: the job function's result, or the one-line error when it failed.
Outcome = R | str
#: What a timeline's dub job gives: (frames, seconds, (first, last) footage frame shown).
DubDone = tuple[int, float, tuple[int, int]]
PROGRESS_EVERY_S = 0.5


class EventQueue(Protocol):
    """Where jobs put their events: a manager queue locally, a Ray queue on a cluster (``get_nowait``
    raises ``queue.Empty``, or Ray's subclass of it, when nothing is waiting)."""

    def put(self, item: tuple[str, dict[str, Any]]) -> None: ...

    def get_nowait(self) -> tuple[str, dict[str, Any]]: ...


#: A job function: ``run(job, device, events) -> result``; raises on failure.
JobFn = Callable[[J, str, EventQueue], R]


class Executor(Protocol):
    """Runs ``run`` on each of ``jobs`` (``device`` as the user asked for it: the executor may pass each job
    a narrower one) and yields every job with its outcome as it finishes; events reach ``emit``."""

    def __call__(
        self, jobs: Sequence[J], run: JobFn[J, R], device: str, emit: EventFn
    ) -> Iterator[tuple[J, Outcome[R]]]: ...


def error_line(exc: BaseException) -> str:
    """The first line of an exception's message (its class name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def drain(events: EventQueue, emit: EventFn) -> None:
    """Pass on the events the jobs have queued so far."""
    while True:
        try:
            event, fields = events.get_nowait()
        except queue.Empty:
            return
        emit(event, fields)


def set_threads(threads: int) -> None:
    """Give this worker process ``threads`` torch threads (workers share the cores; idle threads sleep)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    torch.set_num_threads(max(1, threads))


def progress_sender(events: EventQueue, **fields: Any) -> StageFn:
    """An ``on_stage(stage, done, total)`` that queues ``progress`` events (with ``fields``), at most every
    ``PROGRESS_EVERY_S`` and always at a stage's end: a queue is no place for one event per frame."""
    last = [0.0]

    def on_stage(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_S or done >= total:
            last[0] = now
            events.put(("progress", {**fields, "stage": stage, "done": done, "total": total}))

    return on_stage


# ------------------------------------------------------------------------------------- the timeline's job

#: Profiles loaded in this worker process, by (path, device): a worker reads a profile once, not per job.
_PROFILES: dict[tuple[str, str], Any] = {}


def run_one(job: Job, device: str, events: EventQueue, *, out_dir: Path) -> DubDone:
    """Run one timeline job (a ``dub``) in a worker; returns (frames, seconds, (first, last) footage frame
    shown). Raises on failure.

    Bind ``out_dir`` (the output folder, which the output must not leave) to make it a job function."""
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
    options = DubOptions(
        background=job.background,  # type: ignore[arg-type]
        start=job.start,
        end=job.end,
        video=job.video,
        codec=job.codec,  # type: ignore[arg-type]
        fps=job.fps,
        device=device,
        overwrite=True,
    )
    on_stage = progress_sender(events, id=job.id)
    with tempfile.TemporaryDirectory(prefix="s2l-line-") as scratch:
        speech = job.speech
        if job.speech_duration is not None:  # a line cut from a longer recording: only its part
            speech = cut_speech(job.speech, job.speech_start, job.speech_duration, Path(scratch) / "line.wav")
        result = dub(job.profile, speech, job.output, options, on_stage=on_stage, profile=_PROFILES[key])
    return result.frames, round(time.monotonic() - started, 2), result.footage_frames


def cut_speech(source: Path, start: float, duration: float, target: Path) -> Path:
    """``duration`` seconds of ``source``'s first audio track from ``start``, as a float WAV at the source's
    rate (``atrim`` counts samples, so the cut is exact to the sample; the dub then makes
    round(duration × fps) frames of it)."""
    from s2l_model.media import ffmpeg_exe

    cmd = [
        ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(source), "-map", "0:a:0", "-vn",
        "-af", f"atrim=start={start:.9f}:duration={duration:.9f},asetpts=PTS-STARTPTS",
        "-c:a", "pcm_f32le", "-y", str(target),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise ValueError(f"cannot cut the line from {source.name}: {error_line(ValueError(done.stderr))}")
    return target
