"""Subtitle events (SRT, ASS/SSA, VTT through pysubs2) as the spans of a video to re-voice.

Each dialogue event is a span [start, end) in seconds with its actor (ASS ``Name``; empty in SRT/VTT) and
text. Problems are reported with the event's number (1-based, in file order): an end not after its start,
an event outside the video, overlapping events of the same actor (one face cannot say two lines at once).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

from s2l_model.errors import InputError

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
