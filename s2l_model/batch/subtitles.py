"""Subtitle events (SRT, ASS/SSA, VTT through pysubs2) as the spans of a video to re-voice.

Each dialogue event is a span [start, end) in seconds with its actor (ASS ``Name``; empty in SRT/VTT) and
text. Problems are reported with the event's number (1-based, in file order): an end not after its start,
an event outside the video, overlapping events of the same actor (one face cannot say two lines at once).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from s2l_model.errors import InputError

if TYPE_CHECKING:
    from s2l_model.tts import SpokenLine

SUBTITLE_SUFFIXES = (".srt", ".ass", ".ssa", ".vtt")


@dataclass(frozen=True)
class SubtitleEvent:
    number: int  # 1-based, in file order
    start: float  # seconds
    end: float
    actor: str
    text: str


def read_events(path: Path) -> list[SubtitleEvent]:
    """The dialogue events of a subtitle file (comments skipped). ``InputError`` if it cannot be parsed."""
    import pysubs2

    try:
        subs = pysubs2.load(str(path), encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path.name}: {exc.__class__.__name__}") from None
    except Exception as exc:  # pysubs2 raises its own format errors (and ValueError/KeyError on junk)
        raise InputError(
            f"{path.name} is not a subtitle file pysubs2 can read: {exc.__class__.__name__}"
        ) from None
    events = []
    for line in subs:
        if line.is_comment:
            continue
        events.append(
            SubtitleEvent(
                number=len(events) + 1,
                start=line.start / 1000.0,
                end=line.end / 1000.0,
                actor=(line.name or "").strip(),
                text=line.plaintext.strip(),
            )
        )
    return events


def event_problems(events: list[SubtitleEvent], duration: float) -> list[str]:
    """What is wrong with ``events`` for a video of ``duration`` seconds (empty: nothing)."""
    problems = []
    if not events:
        problems.append("no dialogue events")
    for e in events:
        if e.end <= e.start:
            problems.append(f"event {e.number}: ends ({e.end:.3f} s) before it starts ({e.start:.3f} s)")
        elif e.start >= duration:
            problems.append(
                f"event {e.number}: starts at {e.start:.3f} s, after the video's end ({duration:.3f} s)"
            )
    by_actor: dict[str, list[SubtitleEvent]] = {}
    for e in events:
        by_actor.setdefault(e.actor, []).append(e)
    for actor_events in by_actor.values():
        ordered = sorted(actor_events, key=lambda e: e.start)
        for a, b in itertools.pairwise(ordered):
            if b.start < a.end:
                who = f" ({a.actor})" if a.actor else ""
                problems.append(f"events {a.number} and {b.number} overlap{who}")
    return problems


@dataclass(frozen=True)
class Casting:
    """Who plays whom: per actor (ASS ``Name``) a profile, a face number and a TTS voice. The actor ``""``
    stands for everyone not named (and for every event of an SRT/VTT file, which has no actors)."""

    profiles: dict[str, Path]
    faces: dict[str, int] = field(default_factory=dict)
    voices: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Role:
    """One face to re-voice: its profile, which face it is, and the events it speaks."""

    actor: str  # "" for everyone not named
    profile: Path
    face: int | None
    events: list[SubtitleEvent]


def cast_roles(events: list[SubtitleEvent], casting: Casting) -> tuple[list[Role], list[str]]:
    """The roles to re-voice and the problems with the casting (empty: none). Events of actors with no
    profile (named or default) keep their original lips."""
    problems = []
    known = set(casting.profiles)
    # a voice needs no profile (an actor off screen is still spoken), a face does
    for name in casting.faces:
        if name and name not in known:
            problems.append(f"--face {name}=…: no --profile {name}=… to go with it")
    faces = [casting.faces.get(actor) for actor in known]
    taken = [f for f in faces if f is not None]
    if len(taken) != len(set(taken)):
        problems.append("two actors are given the same --face")
    if len(known) > 1 and len(taken) < len(known):
        problems.append("several profiles: give each actor's face with --face NAME=N (1 = leftmost)")
    roles = []
    actors_in_file = {e.actor for e in events}
    for actor, profile in sorted(casting.profiles.items()):
        if actor:
            mine = [e for e in events if e.actor == actor]
        else:  # the default: every event whose actor has no profile of its own
            mine = [e for e in events if e.actor not in known or e.actor == ""]
        if not mine and actor:
            names = ", ".join(sorted(a for a in actors_in_file if a)) or "none"
            problems.append(f"no event of {actor} (actors in the file: {names})")
        if mine:
            roles.append(Role(actor, profile, casting.faces.get(actor), mine))
    return roles, problems


def voice_parts(
    events: list[SubtitleEvent], voices: dict[str, str]
) -> tuple[list[tuple[str, list[SpokenLine]]], list[str]]:
    """The lines to speak per actor with the voice that speaks them, ``[(voice, lines)]``, for
    ``tts.speak_parts`` (one part per actor: each says one line at a time, actors may overlap); events of
    actors with no voice (named or default ``""``) are not spoken. Problems: no event gets a voice."""
    from s2l_model.tts import SpokenLine  # piper itself is imported only when speech is made

    by_actor: dict[str, list[SpokenLine]] = {}
    for e in events:
        if e.text.strip() and (e.actor in voices or "" in voices):
            by_actor.setdefault(e.actor, []).append(SpokenLine(e.start, e.end, e.text, e.number))
    parts = [(voices.get(actor, voices.get("", "")), lines) for actor, lines in sorted(by_actor.items())]
    return parts, [] if parts else ["no event with text to speak for the --tts voices given"]
