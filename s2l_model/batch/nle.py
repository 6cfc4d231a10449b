"""Editors' timelines (OpenTimelineIO and its adapters): the formats, reading and writing a file, the
record timecodes that problems are named by, and media paths. The convention itself is in ``nle_read``
(timeline → jobs) and ``nle_write`` (the dubbed timeline written back); docs/NLE.md describes both.

OpenTimelineIO is the ``nle`` extra: it is imported here, lazily, and only when a timeline is read or written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from s2l_model.errors import InputError, ProcessingError

#: Suffix → the OpenTimelineIO adapter that reads and writes it.
ADAPTERS = {
    ".otio": "otio_json",
    ".xml": "fcp_xml",  # Final Cut Pro 7 XML (xmeml), also what Premiere and Resolve exchange
    ".fcpxml": "fcpx_xml",
    ".edl": "cmx_3600",
    ".aaf": "AAF",
}
TIMELINE_SUFFIXES = tuple(ADAPTERS)
NEEDS_EXTRA = "reading editors' timelines needs OpenTimelineIO: pip install 's2l[nle]'"
_FROM_MEDIA = re.compile(r"^\*\s*FROM (?:CLIP|FILE):\s*(.+?)\s*$", re.MULTILINE)


def otio() -> Any:
    """The ``opentimelineio`` module, or the one-line error that says which extra to install."""
    try:
        import opentimelineio
    except ImportError:
        raise InputError(NEEDS_EXTRA) from None
    return opentimelineio


def adapter_for(path: Path) -> str:
    try:
        return ADAPTERS[path.suffix.lower()]
    except KeyError:
        raise InputError(f"{path.name}: timelines are {', '.join(TIMELINE_SUFFIXES)}") from None


def load_timeline(path: Path, edl_rate: float | None = None) -> Any:
    """The timeline in ``path`` (any format in ``ADAPTERS``). An EDL carries no frame rate: it is read at
    ``edl_rate`` (see ``edl_media``: the rate of its first footage)."""
    ot = otio()
    adapter = adapter_for(path)
    extra: dict[str, Any] = {"rate": edl_rate} if adapter == "cmx_3600" and edl_rate else {}
    try:
        result = ot.adapters.read_from_file(str(path), adapter_name=adapter, **extra)
    except Exception as exc:  # adapters raise anything from ValueError to their own parse errors
        raise InputError(f"cannot read {path.name} as {adapter}: {_first_line(exc)}") from None
    if isinstance(result, ot.schema.SerializableCollection):  # FCP XML may hold several sequences
        timelines = list(result.find_children(descended_from_type=ot.schema.Timeline, shallow_search=True))
        if len(timelines) != 1:
            raise InputError(f"{path.name} holds {len(timelines)} sequences: export exactly one")
        result = timelines[0]
    if not isinstance(result, ot.schema.Timeline):
        raise InputError(f"{path.name} holds no timeline ({type(result).__name__})")
    return result


def save_timeline(timeline: Any, path: Path) -> None:
    """Write ``timeline`` to ``path`` with the adapter of its suffix, atomically."""
    from s2l_model.media.atomic import atomic_output

    ot = otio()
    adapter = adapter_for(path)
    with atomic_output(path) as tmp:
        try:
            ot.adapters.write_to_file(timeline, str(tmp), adapter_name=adapter)
        except Exception as exc:
            raise ProcessingError(f"cannot write {path.name} as {adapter}: {_first_line(exc)}") from None


def edl_media(path: Path) -> list[str]:
    """The media an EDL names (``* FROM CLIP:`` / ``* FROM FILE:`` comments), in order."""
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise InputError(f"cannot read {path.name}: {exc}") from None
    return _FROM_MEDIA.findall(text)


def media_path(url: str, base: Path) -> Path | None:
    """A media reference's file: a ``file://`` URL or a path, relative ones from ``base`` (the timeline's
    folder); None for other schemes (http, ...)."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:  # a one-letter scheme is a Windows drive
        return None
    path = Path(url)
    return path if path.is_absolute() else base / path


@dataclass(frozen=True)
class Where:
    """Where something sits on the timeline, for messages: track, clip name, record timecode."""

    track: str = ""
    clip: str = ""
    timecode: str = ""

    def __str__(self) -> str:
        parts = [
            self.track,
            repr(self.clip) if self.clip else "",
            f"at {self.timecode}" if self.timecode else "",
        ]
        return " ".join(p for p in parts if p)


@dataclass(frozen=True)
class NleProblem:
    where: Where
    message: str

    def __str__(self) -> str:
        where = str(self.where)
        return f"{where}: {self.message}" if where else self.message


def timecode(time: Any, start: Any = None) -> str:
    """Record timecode of ``time`` (stack time) after the timeline's ``start``; drop-frame at 29.97/59.94."""
    ot = otio().opentime
    if start is not None:
        time = start + time.rescaled_to(start.rate)
    try:
        return ot.to_timecode(time, time.rate)
    except (ValueError, RuntimeError):
        return f"{time.to_seconds():.3f} s"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__
