"""Times a user writes: seconds, clock times and SMPTE timecode, and the footage frame each one means.

Two kinds of time, told apart by their syntax alone (no frame rate is needed to parse):

- **Offsets** from the file's first frame: seconds (``12``, ``12.5``), ``HH:MM:SS[.fff]`` (``00:01:12.5``)
  and ``MM:SS[.fff]`` (``01:12.5``). The decimals are decimal seconds, any number of digits. Frame =
  round(seconds × fps), halves up, computed with fractions (30000/1001 is not 29.97).
- **SMPTE timecode**, a label on the footage's clock: non-drop ``HH:MM:SS:FF``, drop-frame ``HH:MM:SS;FF``
  (also written ``HH;MM;SS;FF``). A label is counted from the footage's source timecode when it has one
  (``01:00:10:12`` on footage starting at ``01:00:00:00`` is 10 s 12 frames in), else from
  ``00:00:00:00``. A label counts round(fps) frames per second (30 at 29.97, 24 at 23.976), so non-drop
  timecode at an NTSC rate runs slow against the wall clock; drop-frame (29.97 and 59.94 only) skips frame
  numbers 00-01 (00-03 at 59.94) at every minute not divisible by 10 to keep up with it.

``HH:MM:SS.FF`` (a frame count after a dot) is not accepted: it reads as decimal seconds. Hours of a
timecode run 00-23 (a timecode clock wraps at 24 h; ``format_timecode`` wraps too).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

from s2l_model.errors import InputError

#: The accepted forms, one example each: the tail of every syntax error.
ACCEPTED = (
    "seconds 12.5, HH:MM:SS.mmm 00:01:12.5, MM:SS.mmm 01:12.5, "
    "SMPTE timecode HH:MM:SS:FF 00:01:12:05, drop-frame HH:MM:SS;FF 00:01:12;05"
)

# Up to 9 digits of seconds (31 years) or 6 of hours: longer is a typo, and would overflow a float.
_SECONDS = re.compile(r"(\d{1,9}(?:\.\d*)?|\.\d+)")
_CLOCK = re.compile(r"(?:(\d{1,6}):)?(\d{1,7}):(\d{1,2}(?:\.\d+)?)")
_SMPTE = re.compile(r"(\d{1,2})([:;])(\d{1,2})([:;])(\d{1,2})([:;])(\d{1,3})")

#: Frame numbers dropped each minute (except every tenth) by drop-frame timecode, per frame rate.
_DROPPED = {Fraction(30000, 1001): 2, Fraction(60000, 1001): 4}


@dataclass(frozen=True)
class Timecode:
    """A SMPTE label, as written (not yet checked against a frame rate)."""

    hours: int
    minutes: int
    seconds: int
    frames: int
    drop: bool

    def __str__(self) -> str:
        sep = ";" if self.drop else ":"
        return f"{self.hours:02d}:{self.minutes:02d}:{self.seconds:02d}{sep}{self.frames:02d}"


@dataclass(frozen=True)
class TimeSpec:
    """A parsed user time: an ``offset`` in seconds from the first frame, or a SMPTE ``label``."""

    text: str
    offset: Fraction | None = None
    label: Timecode | None = None

    @property
    def is_timecode(self) -> bool:
        return self.label is not None

    def frame(self, fps: Fraction, source_start: str | None = None) -> int:
        """The footage frame (0 = the file's first) this time means at ``fps``; ``source_start``: the
        footage's source timecode (SMPTE labels count from it). Raises ``InputError`` (one line) for a
        label the footage's clock does not have."""
        if self.offset is not None:
            return math.floor(self.offset * fps + Fraction(1, 2))
        assert self.label is not None
        count = timecode_frames(self.label, fps)
        if source_start is None:
            return count
        start = parse_timecode(source_start)
        if start.drop != self.label.drop:
            kind = "drop-frame (HH:MM:SS;FF)" if start.drop else "non-drop (HH:MM:SS:FF)"
            raise InputError(
                f"{self.text!r}: the footage's timecode {start} is {kind}; write the time the same way"
            )
        first = timecode_frames(start, fps)
        if count < first:
            raise InputError(
                f"{self.text!r} is before the footage's first frame (its timecode starts at {start})"
            )
        return count - first

    def seconds(self, fps: Fraction, source_start: str | None = None) -> float:
        """``frame(...) / fps`` in seconds: ``round(seconds * fps)`` gives the frame back exactly."""
        return float(Fraction(self.frame(fps, source_start)) / fps)

    def __str__(self) -> str:
        return self.text


def _syntax_error(text: str, reason: str = "") -> InputError:
    why = f": {reason}" if reason else ""
    return InputError(f"{text!r} is not a time{why} (use {ACCEPTED})")


def parse_time(text: str) -> TimeSpec:
    """``text`` as a ``TimeSpec`` (syntax only: frame numbers are checked against a frame rate later)."""
    value = text.strip()
    if value.startswith("-"):
        raise _syntax_error(text, "a time into the footage cannot be negative")
    if _SECONDS.fullmatch(value):
        return TimeSpec(text=value, offset=Fraction(value))
    if match := _CLOCK.fullmatch(value):
        hours, minutes, seconds = match.groups()
        if hours is None:  # MM:SS: the minutes may run past 59 (90:00 is an hour and a half)
            if Fraction(seconds) >= 60:
                raise _syntax_error(text, f"seconds {seconds} must be below 60")
            return TimeSpec(text=value, offset=int(minutes) * 60 + Fraction(seconds))
        if int(minutes) >= 60 or Fraction(seconds) >= 60:
            raise _syntax_error(text, "minutes and seconds must be below 60")
        return TimeSpec(text=value, offset=(int(hours) * 60 + int(minutes)) * 60 + Fraction(seconds))
    if _SMPTE.fullmatch(value):
        return TimeSpec(text=value, label=parse_timecode(value))
    raise _syntax_error(text)


def parse_timecode(text: str) -> Timecode:
    """A SMPTE label: ``HH:MM:SS:FF`` (non-drop), ``HH:MM:SS;FF`` or ``HH;MM;SS;FF`` (drop-frame)."""
    value = text.strip()
    match = _SMPTE.fullmatch(value)
    if match is None:
        raise _syntax_error(text)
    hh, s1, mm, s2, ss, s3, ff = match.groups()
    seps = s1 + s2 + s3
    if seps not in ("::;", ":::", ";;;"):
        raise _syntax_error(text, "use ':' throughout, or ';' before the frames or throughout (drop-frame)")
    hours, minutes, seconds = int(hh), int(mm), int(ss)
    if hours >= 24 or minutes >= 60 or seconds >= 60:
        raise _syntax_error(text, "hours run 00-23, minutes and seconds 00-59")
    return Timecode(hours, minutes, seconds, int(ff), drop=s3 == ";")


def nominal_rate(fps: Fraction) -> int:
    """Frame numbers per timecode second: the frame rate rounded (30 at 29.97, 24 at 23.976)."""
    return math.floor(fps + Fraction(1, 2))


def _fps_text(fps: Fraction) -> str:
    return f"{float(fps):.3f}".rstrip("0").rstrip(".")


def _dropped(fps: Fraction, what: str) -> int:
    if fps not in _DROPPED:
        raise InputError(
            f"{what}: drop-frame timecode exists only at 29.97 and 59.94 fps, not at {_fps_text(fps)} fps"
        )
    return _DROPPED[fps]


def timecode_frames(tc: Timecode, fps: Fraction) -> int:
    """Frames from ``00:00:00:00`` to the label ``tc`` at ``fps``; ``InputError`` for a label that does
    not exist there (frame number too high, a dropped drop-frame number, drop-frame at another rate)."""
    n = nominal_rate(fps)
    if tc.frames >= n:
        raise InputError(f"{tc}: frame {tc.frames} must be below {n} at {_fps_text(fps)} fps")
    labels = ((tc.hours * 60 + tc.minutes) * 60 + tc.seconds) * n + tc.frames
    if not tc.drop:
        return labels
    drop = _dropped(fps, str(tc))
    if tc.seconds == 0 and tc.frames < drop and tc.minutes % 10:
        raise InputError(
            f"{tc} does not exist in drop-frame timecode (frames 00-{drop - 1:02d} are skipped at every "
            "minute not divisible by 10)"
        )
    minutes = tc.hours * 60 + tc.minutes
    return labels - drop * (minutes - minutes // 10)


def frames_timecode(frame: int, fps: Fraction, drop: bool) -> Timecode:
    """The label of frame ``frame`` counted from ``00:00:00:00`` (wraps at 24 h like a timecode clock)."""
    if frame < 0:
        raise ValueError(f"a timecode labels frames from 0, not {frame}")
    n = nominal_rate(fps)
    labels = frame
    if drop:
        d = _dropped(fps, f"frame {frame}")
        per_minute = 60 * n - d  # frames in a minute that drops
        per_ten = 10 * 60 * n - 9 * d  # frames in ten minutes (the first minute drops none)
        tens, rest = divmod(frame, per_ten)
        # The first minute of each ten keeps all its numbers; every later one skips d at its start.
        skipped = 9 * d * tens + (d * ((rest - d) // per_minute) if rest >= d else 0)
        labels = frame + skipped
    labels %= 24 * 3600 * n
    seconds, frames = divmod(labels, n)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return Timecode(hours, minutes, seconds, frames, drop)


def format_timecode(frame: int, fps: Fraction, drop: bool | None = None) -> str:
    """The SMPTE label of frame ``frame`` (from ``00:00:00:00``); ``drop`` None: drop-frame at 29.97 and
    59.94 fps, non-drop at every other rate."""
    return str(frames_timecode(frame, fps, fps in _DROPPED if drop is None else drop))
