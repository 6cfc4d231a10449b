"""Re-voicing footage inside the events of a subtitle file, in one call (what ``s2l batch SUBS`` runs).

``revoice_subtitles(options)`` does all of it: checks the files, reads the events and checks them against
the footage, casts each actor (profile, face, TTS voice), speaks the subtitles' text with the TTS voices
when there is no dub track (into a scratch file), then re-voices the footage with ``dub.revoice``: new lips
only inside each actor's events, the original frames everywhere else. ``plan_subtitles`` is its checking
half alone (a dry run). Given an executor (``batch.executors``) the work after the checks runs there as one
job: with Ray, as a Ray task.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from s2l_model.batch.jobs import EventQueue, Executor, progress_sender
from s2l_model.batch.subtitles import Casting, Role, cast_roles, event_problems, read_events, voice_parts
from s2l_model.dub import DubOptions
from s2l_model.dub.revoice import Part, revoice
from s2l_model.errors import InputError, ProcessingError
from s2l_model.media import probe_video
from s2l_model.progress import StageFn
from s2l_model.tts import SpokenLine, resolve_voice, speak_parts

#: What a re-voicing needs, named as ``s2l batch`` takes it.
REQUIREMENTS = (
    "a subtitle file needs --profile, --video (the footage) and either --speech (the dub track) "
    "or --tts VOICE (speak the subtitles' text)"
)


@dataclass(frozen=True)
class SubtitleOptions:
    subtitles: Path  # .srt, .ass, .ssa or .vtt
    video: Path  # the footage to re-voice
    output: Path  # overwritten if it exists
    casting: Casting  # per actor: a profile, which face, a TTS voice
    speech: Path | None = None  # the dub track, as long as the footage; None: speak with casting.voices
    device: str = "auto"


@dataclass(frozen=True)
class SubtitlePlan:
    """A re-voicing checked and cast: who is re-voiced where, what is spoken, and what stops it."""

    options: SubtitleOptions
    duration: float  # the footage's, in seconds
    roles: list[Role]
    spoken: list[tuple[str, list[SpokenLine]]]  # [(voice, lines)] to speak; empty with a dub track
    problems: list[str]  # empty: ready to run

    @property
    def events(self) -> int:
        """The events to re-voice."""
        return sum(len(r.events) for r in self.roles)


@dataclass
class SubtitleResult:
    output: Path
    frames: int
    rendered_frames: int  # frames with new lips
    events: int  # events re-voiced
    wall_seconds: float  # the re-voicing's, after any speaking
    notes: list[str] = field(default_factory=list)  # the speaking's, then the re-voicing's


def plan_subtitles(options: SubtitleOptions) -> SubtitlePlan:
    """The checks before any work: ``InputError`` for a missing requirement or file; every problem with the
    events (against the footage), the casting and the voices listed in the plan's ``problems``."""
    casting = options.casting
    if not casting.profiles or (options.speech is None) == (not casting.voices):
        raise InputError(REQUIREMENTS)
    for needed in (options.speech, options.video, *casting.profiles.values()):
        if needed is not None and not needed.is_file():
            raise InputError(f"no such file: {needed}")
    info = probe_video(options.video)
    assert info.video is not None
    duration = info.video.n_frames / float(info.video.fps)
    events = read_events(options.subtitles)
    problems = event_problems(events, duration)
    roles, casting_problems = cast_roles(events, casting)
    problems += casting_problems
    spoken: list[tuple[str, list[SpokenLine]]] = []
    if casting.voices:
        spoken, voice_problems = voice_parts(events, casting.voices)
        problems += voice_problems
        for voice in sorted(set(casting.voices.values())):
            try:
                resolve_voice(voice)  # before any work: an unknown voice or a missing extra
            except InputError as exc:
                problems.append(str(exc))
    return SubtitlePlan(options, duration, roles, spoken, problems)


def revoice_subtitles(
    options: SubtitleOptions, on_stage: StageFn | None = None, executor: Executor | None = None
) -> SubtitleResult:
    """Re-voice ``options.video`` inside the events of ``options.subtitles``; ``InputError`` naming every
    problem before any work. ``executor``: where the work runs, as one job (None: in this process; a job
    failing there raises ``ProcessingError`` with its error line). ``on_stage(stage, done, total)``."""
    plan = plan_subtitles(options)
    if plan.problems:
        raise InputError(f"{options.subtitles.name}: " + "; ".join(plan.problems))
    if executor is None:
        return _revoice(plan, options.device, on_stage)
    stage = on_stage or (lambda name, done, total: None)

    def on_event(event: str, fields: dict[str, Any]) -> None:
        if event == "progress":
            stage(fields["stage"], fields["done"], fields["total"])

    [(_, outcome)] = list(executor([plan], _revoice_job, options.device, on_event))
    if isinstance(outcome, str):
        raise ProcessingError(outcome)
    return outcome


def _revoice_job(plan: SubtitlePlan, device: str, events: EventQueue) -> SubtitleResult:
    """The work after the checks as a job function (``batch.jobs.JobFn``), for an executor."""
    return _revoice(plan, device, progress_sender(events))


def _revoice(plan: SubtitlePlan, device: str, on_stage: StageFn | None) -> SubtitleResult:
    """Speak the lines (without a dub track), then re-voice the footage with ``plan``'s roles."""
    options = plan.options
    stage = on_stage or (lambda name, done, total: None)
    parts = [
        Part(r.profile, [(e.start, e.end) for e in r.events], face=r.face, name=r.actor) for r in plan.roles
    ]
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="s2l-subtitles-") as tmp:
        speech = options.speech
        if speech is None:
            speech = Path(tmp) / "tts_track.wav"
            spoken_parts = speak_parts(
                plan.spoken,
                plan.duration,
                speech,
                on_progress=lambda done, total: stage("speaking", done, total),
            )
            notes += [note for part in spoken_parts for note in part.notes]
        dub_options = DubOptions(device=device, overwrite=True)
        result = revoice(parts, speech, options.video, options.output, dub_options, on_stage)
    return SubtitleResult(
        result.output, result.frames, result.rendered_frames, plan.events, result.wall_seconds,
        notes + result.notes,
    )  # fmt: skip
