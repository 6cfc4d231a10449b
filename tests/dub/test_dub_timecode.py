"""`s2l dub --start/--end` in seconds or SMPTE timecode: placed on the footage's own clock (its frame rate,
and its source timecode where the file has one), bad text refused in one line before anything is opened."""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from s2l_model.dub.clock import FootageClock, footage_clock, resolve_frame, resolve_seconds, resolve_times
from s2l_model.errors import InputError
from s2l_model.media import Speech, ffmpeg_exe, parse_time, write_wav
from tests.support import assert_one_line_error, run_s2l

NTSC = Fraction(30000, 1001)


def tagged_video(path: Path, fps: str, timecode: str | None, frames: int = 60) -> Path:
    """A small test-pattern video written by ffmpeg, with ``-timecode`` where given."""
    cmd = [ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size=64x48:rate={fps}"]
    cmd += ["-frames:v", str(frames), "-c:v", "mpeg4"]
    cmd += ["-timecode", timecode] if timecode else []
    subprocess.run([*cmd, str(path)], check=True)
    return path


@pytest.fixture
def speech(tmp_path: Path) -> Path:
    samples = 0.1 * np.random.default_rng(1).standard_normal(9600).astype(np.float32)  # 0.6 s
    return write_wav(tmp_path / "line.wav", Speech(samples, 16000))


def test_timecode_counts_from_the_footage_source_timecode(tmp_path: Path) -> None:
    clock = footage_clock(tmp_path / "unused.prof", tagged_video(tmp_path / "tc.mp4", "25", "01:00:00:00"))
    assert clock == FootageClock(fps=Fraction(25), source_timecode="01:00:00:00")
    assert resolve_frame(parse_time("01:00:02:00"), clock) == 2 * 25
    assert resolve_seconds(parse_time("01:00:02:00"), clock) == 2.0
    assert resolve_seconds(parse_time("2"), clock) == 2.0  # seconds stay offsets from the first frame
    with pytest.raises(InputError, match="before the footage's first frame"):
        resolve_frame(parse_time("00:59:59:00"), clock)
    drop = footage_clock(
        tmp_path / "unused.prof", tagged_video(tmp_path / "df.mov", "30000/1001", "01:00:00;00")
    )
    assert drop == FootageClock(fps=NTSC, source_timecode="01:00:00;00")
    assert resolve_frame(parse_time("01:01:00;02"), drop) == 1800
    assert resolve_seconds(parse_time("01:01:00;02"), drop) == float(Fraction(1800) / NTSC)


def test_untagged_footage_counts_timecode_from_zero(tmp_path: Path) -> None:
    clock = footage_clock(tmp_path / "unused.prof", tagged_video(tmp_path / "plain.mp4", "30000/1001", None))
    assert clock == FootageClock(fps=NTSC, source_timecode=None)
    assert resolve_frame(parse_time("00:01:00;02"), clock) == 1800
    assert resolve_frame(parse_time("00:01:00:00"), clock) == 1800


def test_the_profile_footage_clock_comes_from_the_manifest(tiny_profile: Path) -> None:
    clock = footage_clock(tiny_profile, None)
    assert clock == FootageClock(fps=Fraction(25), source_timecode=None)
    assert resolve_times({"--start": parse_time("00:00:01:05")}, tiny_profile, None) == {"--start": 1.2}
    with pytest.raises(InputError, match=r"^--end 00:00:01;00: drop-frame"):
        resolve_times({"--end": parse_time("00:00:01;00")}, tiny_profile, None)


@pytest.mark.parametrize("fps", [NTSC, Fraction(60000, 1001), Fraction(24000, 1001), Fraction(50)])
def test_resolved_seconds_give_the_frame_back_for_large_frames(fps: Fraction) -> None:
    """The dub turns seconds back into frames with round(seconds × fps): that must be the timecode's frame."""
    clock = FootageClock(fps=fps, source_timecode="01:00:00:00")
    for label in ("01:00:00:01", "09:59:59:00", "23:59:59:00"):
        spec = parse_time(label)
        frame = resolve_frame(spec, clock)
        assert frame == spec.frame(fps) - parse_time("01:00:00:00").frame(fps) > 0
        seconds = resolve_seconds(spec, clock)
        assert round(seconds * fps) == frame and round(seconds * float(fps)) == frame


def test_bad_times_are_one_line_before_anything_is_opened(tmp_path: Path, speech: Path) -> None:
    out = str(tmp_path / "o.mp4")
    missing = str(tmp_path / "missing.prof")  # the syntax is checked first: the profile is never looked at
    for option, text in [
        ("--start", "00:00:61:00"),
        ("--end", "abc"),
        ("--start", "-1"),
        ("--start", "1.5.2"),
    ]:
        proc = run_s2l("dub", missing, str(speech), "-o", out, option, text)
        assert_one_line_error(proc, f"{option} {text!r} is not a time")
        assert "HH:MM:SS:FF" in proc.stderr and "missing.prof" not in proc.stderr


def test_times_the_footage_clock_does_not_have(tiny_profile: Path, tmp_path: Path, speech: Path) -> None:
    out = str(tmp_path / "o.mp4")
    base = ("dub", str(tiny_profile), str(speech), "-o", out)
    assert_one_line_error(run_s2l(*base, "--start", "00:00:01;00"), "drop-frame timecode exists only at")
    assert_one_line_error(run_s2l(*base, "--start", "00:00:00:25"), "frame 25 must be below 25")
    tagged = tagged_video(tmp_path / "tc.mp4", "25", "01:00:00:00")
    proc = run_s2l(*base, "--video", str(tagged), "--start", "00:59:59:00")
    assert_one_line_error(proc, "--start '00:59:59:00' is before the footage's first frame")
    assert "01:00:00:00" in proc.stderr
    assert not Path(out).exists()


def test_dub_starts_at_a_timecode(tiny_profile: Path, tmp_path: Path, speech: Path) -> None:
    """`--start 00:00:01:05` on the profile's 25 fps footage plays from frame 30, the same frame as 1.2 s."""
    out = tmp_path / "tc.mkv"
    proc = run_s2l("dub", str(tiny_profile), str(speech), "-o", str(out), "--json", "--start", "00:00:01:05")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    result = json.loads(proc.stdout.splitlines()[-1])
    assert result["frames"] == 15 and result["footage_frames"] == [30, 44]
