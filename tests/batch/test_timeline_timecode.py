"""A timeline's `start`/`end` in seconds or SMPTE timecode: placed on each row's footage clock (the profile's
frame rate, or the `video`'s frame rate and source timecode, read once per file) as exact frame / fps floats;
bad times are problems with their row numbers."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import s2l_model.batch.timeline as timeline
from s2l_model.batch.timeline import read_timeline
from s2l_model.media import Speech, ffmpeg_exe, write_wav

NTSC = Fraction(30000, 1001)


@pytest.fixture(scope="module")
def folder(tiny_profile: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 25 fps tiny profile, a speech file and a 29.97 fps clip tagged with drop-frame 01:00:00;00."""
    path = tmp_path_factory.mktemp("timecode_timeline")
    (path / "speaker.prof").symlink_to(tiny_profile)
    write_wav(path / "line.wav", Speech(np.zeros(8000, np.float32), 16000))
    cmd = [ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=30000/1001"]
    cmd += ["-frames:v", "30", "-timecode", "01:00:00;00", "-c:v", "mpeg4", str(path / "df.mov")]
    subprocess.run(cmd, check=True)
    return path


def write_rows(folder: Path, rows: list[str]) -> Path:
    path = folder / "jobs.csv"
    path.write_text("id,profile,speech,output,video,start,end\n" + "\n".join(rows) + "\n")
    return path


def seconds(frame: int, fps: Fraction) -> float:
    return float(Fraction(frame) / fps)


def test_timecode_rows_hold_exact_frame_over_fps(folder: Path, tmp_path: Path) -> None:
    rows = [
        "a,speaker.prof,line.wav,a.mp4,,00:00:01:05,00:00:02:00",  # profile footage, 25 fps, from 00:00:00:00
        "b,speaker.prof,line.wav,b.mp4,df.mov,01:01:00;02,01:10:00;00",  # from the clip's 01:00:00;00
        "c,speaker.prof,line.wav,c.mp4,df.mov,12.5,00:01:00",  # offsets: frames 375 and 1798
        "d,speaker.prof,line.wav,d.mp4,df.mov,,",
        "e,speaker.prof,line.wav,e.mp4,,0.5,",  # 12.5 frames at 25 fps: halves go up, to frame 13
    ]
    jobs, problems = read_timeline(write_rows(folder, rows), tmp_path)
    assert problems == []
    got = {job.id: (job.start, job.end) for job in jobs}
    assert got["a"] == (1.2, 2.0)
    assert got["b"] == (seconds(1800, NTSC), seconds(17982, NTSC)) == (60.06, 599.9994)
    assert got["c"] == (seconds(375, NTSC), seconds(1798, NTSC))
    assert got["d"] == (0.0, None) and got["e"] == (0.52, None)
    for job in jobs[1:3]:  # the dub rounds seconds × fps back to exactly these frames
        assert [round(t * NTSC) for t in (job.start, job.end)] in ([1800, 17982], [375, 1798])


def test_bad_times_are_problems_with_their_rows(folder: Path, tmp_path: Path) -> None:
    rows = [
        "a,speaker.prof,line.wav,a.mp4,,00:00:61:00,",  # row 2: not a time
        "b,speaker.prof,line.wav,b.mp4,df.mov,00:59:59;29,",  # row 3: before the clip's first frame
        "c,speaker.prof,line.wav,c.mp4,,00:00:02:00,00:00:01:24",  # row 4: end before start
        "d,speaker.prof,line.wav,d.mp4,df.mov,01:00:00:00,",  # row 5: non-drop on a drop-frame clock
        "e,speaker.prof,line.wav,e.mp4,,-1,",  # row 6: negative
        "f,speaker.prof,line.wav,f.mp4,,00:01:00;00,",  # row 7: drop-frame at 25 fps
        "g,speaker.prof,line.wav,g.mp4,df.mov,,01:00:01;00",  # row 8: fine
        "h,speaker.prof,line.wav,h.mp4,df.mov,00:01:00;01,",  # row 9: a label drop-frame skips
        "i,speaker.prof,line.wav,i.mp4,,1.0,00:00:01:00",  # row 10: end = start (same frame 25)
        "j,speaker.prof,line.wav,j.mp4,missing.mov,01:00:00:00,",  # row 11: only the missing file
    ]
    jobs, problems = read_timeline(write_rows(folder, rows), tmp_path)
    assert [job.id for job in jobs] == ["g"] and jobs[0].end == seconds(30, NTSC)
    found = {p.row: p.message for p in problems}
    assert sorted(found) == [2, 3, 4, 5, 6, 7, 9, 10, 11]
    assert found[2].startswith("start '00:00:61:00' is not a time") and "HH:MM:SS;FF" in found[2]
    assert "before the footage's first frame" in found[3] and "01:00:00;00" in found[3]
    assert found[4] == "end (00:00:01:24 = 1.96 s) must be after start (00:00:02:00 = 2 s)"
    assert "drop-frame" in found[5]
    assert "negative" in found[6]
    assert "exists only at 29.97 and 59.94 fps" in found[7]
    assert "does not exist in drop-frame timecode" in found[9]
    assert found[10] == "end (00:00:01:00 = 1 s) must be after start (1 s)"
    assert found[11] == "video file not found: missing.mov"


def test_each_footage_file_is_read_once(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Path, Path | None]] = []
    real = timeline.footage_clock

    def counted(profile: Path, video: Path | None):
        calls.append((profile, video))
        return real(profile, video)

    monkeypatch.setattr(timeline, "footage_clock", counted)
    rows = [f"r{k},speaker.prof,line.wav,r{k}.mp4,{'df.mov' if k % 2 else ''},{k}," for k in range(8)]
    rows.append("plain,speaker.prof,line.wav,plain.mp4,df.mov,,")  # no times: nothing to read
    jobs, problems = read_timeline(write_rows(folder, rows), tmp_path)
    assert problems == [] and len(jobs) == 9
    assert sorted(str(video) for _, video in calls) == sorted([str(folder / "df.mov"), "None"])
