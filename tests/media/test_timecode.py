"""Times a user writes: seconds, clock times and SMPTE timecode (drop-frame and non-drop) as footage frames,
checked against hand-computed values; the label of a frame and back; the source timecode a probe reads."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s2l_model.errors import InputError
from s2l_model.media import ffmpeg_exe, format_timecode, nominal_rate, parse_time, probe_video

NTSC = Fraction(30000, 1001)
NTSC60 = Fraction(60000, 1001)
FILM = Fraction(24000, 1001)


@pytest.mark.parametrize(
    ("text", "fps", "frame"),
    [
        # drop-frame at 29.97: two frame numbers skipped at every minute but each tenth
        ("00:01:00;02", NTSC, 1800),
        ("00:00:59;29", NTSC, 1799),
        ("00:10:00;00", NTSC, 17982),
        ("01:00:00;00", NTSC, 107892),
        ("01;00;00;00", NTSC, 107892),  # all semicolons: the same label
        ("00:01:00;04", NTSC60, 3600),  # 59.94 skips four
        # non-drop counts nominal labels per second (30 at 29.97: 00:01:00:00 is 60.06 s in)
        ("00:01:00:00", NTSC, 1800),
        ("00:00:01:00", FILM, 24),
        ("00:00:01:49", Fraction(50), 99),
        ("00:00:00:00", Fraction(25), 0),
        # offsets from the first frame: round(seconds × fps), halves up, in exact fractions
        ("12", Fraction(25), 300),
        ("12.5", NTSC, 375),  # 374.625
        ("0.02", Fraction(25), 1),  # exactly half a frame: up (float 0.02 × 25 is not exactly 0.5)
        ("00:01:00", NTSC, 1798),  # 60 s of 29.97 fps = 1798.2 frames
        ("01:00:00.000", NTSC, 107892),  # an hour of wall clock is where drop-frame 01:00:00;00 lands
        ("01:12.5", Fraction(25), 1813),
        ("90:00", Fraction(25), 135000),  # MM:SS may run past 59 minutes
        ("120:00.5", Fraction(25), 180013),
    ],
)
def test_hand_checked_frames(text: str, fps: Fraction, frame: int) -> None:
    assert parse_time(text).frame(fps) == frame
    assert parse_time(text).seconds(fps) == float(Fraction(frame) / fps)


def test_non_drop_at_ntsc_runs_slow_against_the_clock() -> None:
    assert parse_time("00:01:00:00").seconds(NTSC) == pytest.approx(60.06)
    assert parse_time("00:00:01:00").seconds(FILM) == pytest.approx(1.001)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("00:01:00;00", "does not exist"),
        ("00:01:00;01", "does not exist"),
        ("00:00:01:30", "below 30"),  # FF must be below the nominal rate
        ("00:00:00;30", "below 30"),
    ],
)
def test_labels_the_ntsc_clock_does_not_have(text: str, needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        parse_time(text).frame(NTSC)


def test_drop_frame_only_at_ntsc_rates_and_frames_below_the_nominal_rate() -> None:
    with pytest.raises(InputError, match=r"29\.97 and 59\.94"):
        parse_time("00:00:01;00").frame(Fraction(25))
    with pytest.raises(InputError, match="below 25"):
        parse_time("00:00:01:25").frame(Fraction(25))
    assert parse_time("00:00:01:24").frame(Fraction(25)) == 49
    assert parse_time("00:10:00;00").frame(NTSC60) == 35964  # 10 × 60 × 60 − 9 × 4
    assert nominal_rate(NTSC) == 30 and nominal_rate(FILM) == 24 and nominal_rate(NTSC60) == 60


@pytest.mark.parametrize(
    "text",
    ["", "abc", "-1", "1e3", "inf", "12,5", "00:00:61:00", "00:60:00", "24:00:00:00", "00;00:01;00",
     "00:00:01.12.5", "1:2:3:4:5", "00:00:01;", "1" + "0" * 400],
)  # fmt: skip
def test_bad_text_is_one_line_naming_it_and_the_forms(text: str) -> None:
    with pytest.raises(InputError) as info:
        parse_time(text)
    message = str(info.value)
    assert "\n" not in message and repr(text) in message
    assert "HH:MM:SS:FF" in message and "HH:MM:SS;FF" in message and "12.5" in message


def test_a_dot_is_decimal_seconds_never_frames() -> None:
    """`HH:MM:SS.FF` is not timecode here: .12 is 120 ms (3 frames at 25 fps), not frame 12."""
    assert parse_time("00:00:01.12").frame(Fraction(25)) == 28
    assert not parse_time("00:00:01.12").is_timecode and parse_time("00:00:01:12").is_timecode


def test_smpte_counts_from_the_source_timecode() -> None:
    assert parse_time("01:00:10:12").frame(Fraction(25), "01:00:00:00") == 262
    assert parse_time("01:00:00:00").frame(Fraction(25), "01:00:00:00") == 0
    assert parse_time("01:01:00;02").frame(NTSC, "01:00:00;00") == 1800
    assert parse_time("10.5").frame(Fraction(25), "01:00:00:00") == 263  # offsets ignore it
    with pytest.raises(InputError, match=r"before the footage's first frame.*01:00:00:00"):
        parse_time("00:59:59:24").frame(Fraction(25), "01:00:00:00")
    with pytest.raises(InputError, match="non-drop"):
        parse_time("01:00:10;12").frame(NTSC, "01:00:00:00")  # the footage's clock is non-drop


def test_format_timecode() -> None:
    assert format_timecode(1800, NTSC) == "00:01:00;02"  # drop-frame by default at 29.97
    assert format_timecode(1800, NTSC, drop=False) == "00:01:00:00"
    assert format_timecode(107892, NTSC) == "01:00:00;00"
    assert format_timecode(99, Fraction(50)) == "00:00:01:49"
    assert format_timecode(24, FILM) == "00:00:01:00"
    assert format_timecode(25 * 86400 + 3, Fraction(25)) == "00:00:00:03"  # wraps at 24 h like a clock
    with pytest.raises(InputError, match=r"29\.97 and 59\.94"):
        format_timecode(10, Fraction(25), drop=True)


def test_every_frame_of_the_first_hour_round_trips_at_29_97_drop_frame() -> None:
    labels = [format_timecode(frame, NTSC) for frame in range(107892 + 1)]
    assert len(set(labels)) == len(labels)  # no label twice
    assert all(parse_time(label).frame(NTSC) == frame for frame, label in enumerate(labels))
    assert labels[-1] == "01:00:00;00"


def _frames_per_day(fps: Fraction, drop: bool) -> int:
    n = nominal_rate(fps)
    if not drop:
        return 86400 * n
    d = 2 if fps == NTSC else 4
    return 144 * (600 * n - 9 * d)  # 144 blocks of ten minutes, each dropping 9 × d numbers


@settings(max_examples=400, deadline=None)
@given(
    fps=st.sampled_from([NTSC, NTSC60, FILM, Fraction(25), Fraction(50), Fraction(24), Fraction(30)]),
    drop=st.booleans(),
    data=st.data(),
)
def test_labels_round_trip_over_a_day(fps: Fraction, drop: bool, data: st.DataObject) -> None:
    drop = drop and fps in (NTSC, NTSC60)
    frame = data.draw(st.integers(0, _frames_per_day(fps, drop) - 1))
    label = format_timecode(frame, fps, drop)
    assert parse_time(label).frame(fps) == frame
    assert (";" in label) == drop


def test_the_last_label_of_the_day() -> None:
    assert format_timecode(_frames_per_day(NTSC, True) - 1, NTSC) == "23:59:59;29"
    assert format_timecode(_frames_per_day(NTSC60, True) - 1, NTSC60) == "23:59:59;59"


@pytest.mark.parametrize("fps", [NTSC, NTSC60, FILM, Fraction(25)])
def test_seconds_give_back_their_frame_exactly(fps: Fraction) -> None:
    """A time's seconds are frame / fps: times fps and rounded (as the dub does, with the fraction or a
    float) they are the frame again, also far beyond any footage; and written out they parse back to it."""
    for frame in (0, 1, 1799, 107892, 2_073_599, _frames_per_day(fps, False) - 1):
        spec = parse_time(format_timecode(frame, fps, drop=False))
        seconds = spec.seconds(fps)
        assert (
            spec.frame(fps) == frame
            and round(seconds * fps) == frame
            and round(seconds * float(fps)) == frame
        )
    for frame in (10**7 + 7, 10**9 + 3, 3 * 10**9 + 1):
        seconds = float(Fraction(frame) / fps)
        assert round(seconds * fps) == frame and round(seconds * float(fps)) == frame
        assert parse_time(repr(seconds)).frame(fps) == frame


def _tagged(path: Path, fps: str, timecode: str) -> Path:
    cmd = [ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size=64x48:rate={fps}"]
    cmd += ["-frames:v", "10", "-timecode", timecode, "-c:v", "mpeg4", str(path)]
    subprocess.run(cmd, check=True)
    return path


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv"])
def test_probe_reads_the_source_timecode(tmp_path: Path, suffix: str) -> None:
    """MP4/MOV keep it on the video stream (and a tmcd track), Matroska on the container."""
    info = probe_video(_tagged(tmp_path / f"tc{suffix}", "25", "01:00:00:00"))
    assert info.video is not None and info.video.timecode == "01:00:00:00"
    assert info.to_dict()["video"]["timecode"] == "01:00:00:00"
    assert info.video.n_frames == 10  # the timecode track is not counted as frames
    drop = probe_video(_tagged(tmp_path / f"df{suffix}", "30000/1001", "10:00:00;00"))
    assert drop.video is not None and drop.video.timecode == "10:00:00;00"


def test_untagged_footage_has_no_timecode(tmp_path: Path) -> None:
    path = tmp_path / "plain.mp4"
    cmd = [ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=25"]
    subprocess.run([*cmd, "-frames:v", "5", "-c:v", "mpeg4", str(path)], check=True)
    info = probe_video(path)
    assert info.video is not None and info.video.timecode is None
