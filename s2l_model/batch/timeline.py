"""A timeline CSV: one dub job per row, validated as a whole before anything runs.

Columns (header row, any order, names case-insensitive):

    id        required  unique job name (letters, digits, ``-``, ``_``, ``.``)
    profile   required  the speaker's ``.prof``                          relative to the CSV's folder
    speech    required  what they say (any audio/video file with sound)  relative to the CSV's folder
    output    required  the video to write (.mp4, .mov, .mkv)            relative to the output folder
    video     optional  other footage of the speaker to dub onto         relative to the CSV's folder
    start     optional  where in the footage the background starts (default: its first frame)
    end       optional  where in the footage the background stops (it loops/turns before it)
    background optional loop | pingpong | hold (default loop)
    codec     optional  h264 | prores | ffv1 (default: from the output's suffix)

``start`` and ``end`` take the forms of ``s2l dub --start``: seconds (``12.5``), ``HH:MM:SS.mmm``,
``MM:SS.mmm``, SMPTE timecode ``HH:MM:SS:FF`` or drop-frame ``HH:MM:SS;FF`` (``media.timecode``). Their
syntax is checked first; they are then placed on the row's footage clock (``video``'s frame rate and source
timecode, probed once per distinct file, else the profile's frame rate from its manifest), and the job
holds frame / fps seconds.

Outputs can never land outside the output folder: absolute paths and ``..`` are refused, as are two rows
writing the same file. Every problem is reported with its CSV row number (the header is row 1).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path, PurePosixPath, PureWindowsPath

from s2l_model.dub.background import BACKGROUND_MODES
from s2l_model.dub.clock import FootageClock, footage_clock, resolve_seconds
from s2l_model.errors import InputError
from s2l_model.media import CODECS, TimeSpec, parse_time, suffix_for

REQUIRED = ("id", "profile", "speech", "output")
OPTIONAL = ("video", "start", "end", "background", "codec")
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
OUTPUT_SUFFIXES = {suffix_for(codec): codec for codec in CODECS}


@dataclass(frozen=True)
class Job:
    id: str
    row: int  # CSV row number (header = 1)
    profile: Path
    speech: Path
    output: Path  # inside the output folder
    video: Path | None = None
    start: float = 0.0
    end: float | None = None
    background: str = "loop"
    codec: str | None = None
    # Editors' timelines (``nle_read``): the line is ``speech`` from ``speech_start`` for ``speech_duration``
    # seconds (None: all of it), rendered at ``fps`` (None: the profile's); ``label`` says where it came from.
    speech_start: float = 0.0
    speech_duration: float | None = None
    label: str = ""
    fps: Fraction | None = None


@dataclass(frozen=True)
class Problem:
    row: int  # 0: the file as a whole
    message: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.message}" if self.row else self.message


def read_timeline(path: Path, out_dir: Path) -> tuple[list[Job], list[Problem]]:
    """The jobs of a timeline CSV and every problem found in it (jobs of rows with problems are left out).

    Raises ``InputError`` only when the file cannot be read as CSV at all."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path.name}: {exc.__class__.__name__}: {exc}") from None
    try:
        rows = list(csv.reader(text.splitlines()))
    except csv.Error as exc:
        raise InputError(f"{path.name} is not a CSV file: {exc}") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        return [], [Problem(0, f"{path.name} is empty: expected a header row with {', '.join(REQUIRED)}")]
    header = [h.strip().lower() for h in rows[0]]
    problems = [Problem(1, f"missing column {name!r}") for name in REQUIRED if name not in header]
    unknown = [h for h in header if h not in REQUIRED + OPTIONAL]
    problems += [
        Problem(1, f"unknown column {name!r} (known: {', '.join(REQUIRED + OPTIONAL)})") for name in unknown
    ]
    if len(set(header)) != len(header):
        problems.append(Problem(1, "a column appears twice"))
    if problems:
        return [], problems
    if len(rows) == 1:
        return [], [Problem(0, f"{path.name} has a header but no jobs")]

    base = path.parent
    jobs: list[Job] = []
    seen_ids: dict[str, int] = {}
    seen_outputs: dict[Path, int] = {}
    clocks: dict[tuple[str, Path], FootageClock | str] = {}  # footage clock (or why none), per file
    for number, cells in enumerate(rows[1:], start=2):
        if len(cells) > len(header):
            problems.append(Problem(number, f"{len(cells)} cells for {len(header)} columns"))
            continue
        record = {h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(header)}
        job, found = _job(record, number, base, out_dir, clocks)
        if job is not None:
            if job.id in seen_ids:
                found.append(f"duplicate id {job.id!r} (first on row {seen_ids[job.id]})")
            if job.output in seen_outputs:
                found.append(f"output {record['output']!r} is also written by row {seen_outputs[job.output]}")
        problems += [Problem(number, message) for message in found]
        if job is not None and not found:
            seen_ids[job.id] = number
            seen_outputs[job.output] = number
            jobs.append(job)
    return jobs, problems


def _job(
    record: dict[str, str],
    row: int,
    base: Path,
    out_dir: Path,
    clocks: dict[tuple[str, Path], FootageClock | str],
) -> tuple[Job | None, list[str]]:
    found: list[str] = []
    for name in REQUIRED:
        if not record.get(name):
            found.append(f"empty {name!r}")
    if found:
        return None, found
    job_id = record["id"]
    if not ID_PATTERN.match(job_id):
        found.append(f"id {job_id!r}: use letters, digits, '-', '_' or '.' (up to 128)")
    inputs = {}
    for name in ("profile", "speech", "video"):
        if record.get(name):
            inputs[name] = base / record[name]
            if not inputs[name].is_file():
                found.append(f"{name} file not found: {record[name]}")
    output = output_path(record["output"], out_dir, found)
    specs = {name: _time_spec(record.get(name, ""), name, found) for name in ("start", "end")}
    start: float | None = 0.0
    end: float | None = None
    if any(specs.values()):
        footage = [inputs[name] for name in ("profile", "video") if name in inputs]
        clock = _clock(inputs, clocks, found) if all(p.is_file() for p in footage) else None
        start = _seconds(specs["start"], "start", clock, found, default=0.0)
        end = _seconds(specs["end"], "end", clock, found, default=None)
    if start is not None and end is not None and end <= start:
        found.append(
            f"end ({_shown(specs['end'], end)}) must be after start ({_shown(specs['start'], start)})"
        )
    background = record.get("background") or "loop"
    if background not in BACKGROUND_MODES:
        found.append(f"background {background!r}: use {', '.join(BACKGROUND_MODES)}")
    codec = record.get("codec") or None
    if codec is not None and codec not in CODECS:
        found.append(f"codec {codec!r}: use {', '.join(CODECS)}")
    if (
        output is not None
        and codec is not None
        and codec in CODECS
        and output.suffix.lower() != suffix_for(codec)
    ):
        found.append(f"codec {codec} writes {suffix_for(codec)} files, not {output.suffix!r}")
    if found or output is None:
        return None, found
    return (
        Job(
            id=job_id,
            row=row,
            profile=inputs["profile"],
            speech=inputs["speech"],
            output=output,
            video=inputs.get("video"),
            start=start or 0.0,
            end=end,
            background=background,
            codec=codec,
        ),
        found,
    )


def output_path(text: str, out_dir: Path, found: list[str]) -> Path | None:
    """``text`` as a path inside ``out_dir``, or None (with the reason in ``found``)."""
    if (
        PurePosixPath(text).is_absolute()
        or PureWindowsPath(text).is_absolute()
        or PureWindowsPath(text).drive
    ):
        found.append(f"output {text!r} is absolute: outputs are written inside the output folder")
        return None
    parts = PurePosixPath(text.replace("\\", "/")).parts
    if ".." in parts:
        found.append(f"output {text!r} leaves the output folder ('..')")
        return None
    path = out_dir.joinpath(*parts)
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        found.append(f"output {text!r}: use .mp4 (H.264), .mov (ProRes) or .mkv (FFV1)")
        return None
    return path


def _time_spec(text: str, name: str, found: list[str]) -> TimeSpec | None:
    """The cell's time (syntax only), or None when it is empty or bad (the reason goes to ``found``)."""
    if not text:
        return None
    try:
        return parse_time(text)
    except InputError as exc:
        found.append(f"{name} {exc}")
        return None


def _clock(
    inputs: dict[str, Path], clocks: dict[tuple[str, Path], FootageClock | str], found: list[str]
) -> FootageClock | None:
    """The clock of the row's footage, probed or read once per distinct file (failures are kept too)."""
    profile, video = inputs["profile"], inputs.get("video")
    key = ("profile", profile) if video is None else ("video", video)
    if key not in clocks:
        try:
            clocks[key] = footage_clock(profile, video)
        except InputError as exc:
            clocks[key] = f"{key[0]}: {exc}"
    clock = clocks[key]
    if isinstance(clock, str):
        found.append(clock)
        return None
    return clock


def _seconds(
    spec: TimeSpec | None, name: str, clock: FootageClock | None, found: list[str], default: float | None
) -> float | None:
    """``spec`` as seconds into the footage (frame / fps); ``default`` without one, None when it cannot
    be placed (the reason goes to ``found``, unless an earlier problem of the row already stands for it)."""
    if spec is None:
        return default
    if clock is None:
        return None
    try:
        return resolve_seconds(spec, clock)
    except InputError as exc:
        found.append(f"{name} {exc}")
        return None


def _shown(spec: TimeSpec | None, seconds: float) -> str:
    """A time in a message: its seconds, after the timecode the row gave."""
    return f"{spec.text} = {seconds:g} s" if spec is not None and spec.is_timecode else f"{seconds:g} s"
