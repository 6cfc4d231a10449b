"""`s2l batch` with a timeline CSV: validation with row numbers, a real run where broken rows fail alone and
nothing is written outside the output folder, resumption after a kill, and malformed CSVs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s2l_model.batch.jobs import DubDone, EventFn, JobFn, Outcome
from s2l_model.batch.runner import run_jobs
from s2l_model.batch.subtitles import event_problems, read_events
from s2l_model.batch.timeline import Job, Problem, read_timeline
from s2l_model.errors import InputError
from s2l_model.media import Speech, iter_frames, probe_video, write_wav
from s2l_model.sample.generate import make_sample_speech, read_truth_csv
from tests.dub.test_dub import mouth_openings
from tests.support import run_s2l


def write_csv(folder: Path, rows: list[str], name: str = "jobs.csv") -> Path:
    path = folder / name
    path.write_text("id,profile,speech,output\n" + "\n".join(rows) + "\n")
    return path


def twelve_rows(folder: Path) -> Path:
    rows = [f"job{k:02d},speaker.prof,line{k % 3}.wav,out/job{k:02d}.mp4" for k in range(12)]
    rows[3] = "job03,speaker.prof,missing.wav,out/job03.mp4"  # row 5: missing speech file
    rows[6] = "job06,speaker.prof,line0.wav,../escape.mp4"  # row 8: output outside the folder
    rows[9] = "job09,nobody.prof,line0.wav,out/job09.mp4"  # row 11: unknown profile
    return write_csv(folder, rows)


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_dry_run_names_the_broken_rows(job_folder: Path, tmp_path: Path) -> None:
    jobs = twelve_rows(job_folder)
    proc = run_s2l("batch", str(jobs), "-o", str(tmp_path / "out"), "--dry-run", "--json")
    assert proc.returncode == 2, proc.stderr
    found = [e for e in events(proc.stdout) if e["event"] == "problem"]
    assert sorted(e["row"] for e in found) == [5, 8, 11]
    messages = {e["row"]: e["message"] for e in found}
    assert "missing.wav" in messages[5] and "'..'" in messages[8] and "nobody.prof" in messages[11]
    assert not (tmp_path / "out").exists()  # a dry run writes nothing


def test_run_writes_nine_outputs_and_reports_three_failures(job_folder: Path, tmp_path: Path) -> None:
    jobs = twelve_rows(job_folder)
    out = tmp_path / "renders" / "out"
    before = set(job_folder.rglob("*"))
    proc = run_s2l("batch", str(jobs), "-o", str(out), "--workers", "2", "--json")
    assert proc.returncode == 1, proc.stderr  # some failed
    evs = events(proc.stdout)
    assert {e["event"] for e in evs} <= {"job_started", "progress", "job_done", "job_failed", "summary"}
    summary = evs[-1]
    assert summary["event"] == "summary" and (summary["done"], summary["failed"]) == (9, 3)
    written = sorted(p.name for p in (out / "out").glob("*.mp4"))
    assert len(written) == 9 and "job03.mp4" not in written
    for name in written:
        info = probe_video(out / "out" / name)
        assert info.video is not None and info.video.n_frames > 0 and info.has_audio
    report = json.loads((out / "batch_report.json").read_text())
    failed = sorted(j["row"] for j in report["jobs"] if j["status"] == "failed")
    assert failed == [5, 8, 11] and all(j["error"] for j in report["jobs"] if j["status"] == "failed")
    # nothing outside the output folder: no escape.mp4 anywhere, the job folder unchanged
    assert set(job_folder.rglob("*")) == before
    assert all(p == out.parent or p.is_relative_to(out) for p in tmp_path.rglob("*"))


def test_a_killed_batch_resumes_skipping_finished_jobs(job_folder: Path, tmp_path: Path) -> None:
    rows = [f"j{k},speaker.prof,line{k % 3}.wav,j{k}.mp4" for k in range(6)]
    jobs = write_csv(job_folder, rows, name="resume.csv")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "s2l_cli", "batch", str(jobs), "-o", str(out), "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, start_new_session=True)
    done = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        if json.loads(line)["event"] == "job_done":
            done += 1
            if done == 2:
                os.killpg(proc.pid, signal.SIGKILL)  # the whole batch, workers included, dies at once
                break
    proc.wait()
    finished = sorted(p.name for p in out.glob("*.mp4"))
    assert 2 <= len(finished) < 6
    rerun = run_s2l("batch", str(jobs), "-o", str(out), "--resume", "--json")
    assert rerun.returncode == 0, rerun.stderr
    evs = events(rerun.stdout)
    skipped = [e for e in evs if e["event"] == "job_skipped"]
    # every job announced done is skipped (a job that finished in the instant of the kill may be redone)
    assert 2 <= len(skipped) <= len(finished) and len(skipped) + evs[-1]["done"] == 6
    assert len(list(out.glob("*.mp4"))) == 6
    # a changed input makes its output out of date
    os.utime(job_folder / "line0.wav")
    again = events(run_s2l("batch", str(jobs), "-o", str(out), "--resume", "--json").stdout)
    assert again[-1]["done"] == 2 and again[-1]["skipped"] == 4  # j0 and j3 use line0.wav


def test_the_report_holds_what_the_executor_gives(tmp_path: Path) -> None:
    """``run_jobs`` runs nothing itself: the executor it is given runs the jobs, in whatever order."""
    jobs = [Job(name, row, tmp_path / "p.prof", tmp_path / "s.wav", tmp_path / f"{name}.mp4")
            for name, row in (("a", 2), ("b", 3))]  # fmt: skip

    def executor(
        to_run: list[Job], run: JobFn[Job, DubDone], device: str, emit: EventFn
    ) -> Iterator[tuple[Job, Outcome[DubDone]]]:
        assert (to_run, device) == (jobs, "cpu")
        yield to_run[1], "it broke"
        yield to_run[0], (12, 0.5, (3, 14))

    report_path = tmp_path / "report.json"
    report = run_jobs(jobs, [Problem(4, "bad row")], executor=executor, out_dir=tmp_path,
                      report_path=report_path, device="cpu")  # fmt: skip
    assert [(r.id, r.status, r.frames, r.error, r.footage_frames) for r in report.jobs] == [
        ("a", "done", 12, None, [3, 14]),
        ("b", "failed", None, "it broke", None),
        ("row 4", "failed", None, "bad row", None),
    ]
    assert json.loads(report_path.read_text())["failed"] == 2


def test_bad_timelines_are_one_line_errors(job_folder: Path, tmp_path: Path) -> None:
    no_columns = tmp_path / "cols.csv"
    no_columns.write_text("name,voice\nx,y\n")
    proc = run_s2l("batch", str(no_columns), "-o", str(tmp_path / "o"))
    assert proc.returncode == 2 and "missing column 'id'" in proc.stderr
    rows = ["a,speaker.prof,line0.wav,a.mp4", "a,speaker.prof,line1.wav,b.mp4"]
    dup = write_csv(job_folder, rows, "dup.csv")
    jobs, problems = read_timeline(dup, tmp_path)
    assert len(jobs) == 1 and problems[0].row == 3 and "duplicate id" in problems[0].message
    srt = tmp_path / "dub.srt"
    srt.write_text("1\n00:00:01,000 --> 00:00:02,000\nhello\n")
    proc = run_s2l("batch", str(srt), "-o", str(tmp_path / "o"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_malformed_csv_never_crashes(text: str, tmp_path: Path) -> None:
    path = tmp_path / "fuzz.csv"
    path.write_text("id,profile,speech,output,start,end\n" + text, encoding="utf-8")
    jobs, problems = read_timeline(path, tmp_path / "out")
    for job in jobs:
        assert job.output.resolve().is_relative_to((tmp_path / "out").resolve())
    assert all(isinstance(p.row, int) for p in problems)


def test_subtitles_revoice_only_inside_events(trained_sample_profile: Path, tmp_path: Path) -> None:
    """An SRT with two events over the sample speaker's clip and a new dub track: lossless output, frames
    outside the events are the original's bit for bit; inside them the mouth follows the dub track."""
    folder = trained_sample_profile.parent
    video = folder / "speaker.mp4"
    info = probe_video(video)
    assert info.video is not None
    n, fps = info.video.n_frames, float(info.video.fps)
    dub_wav = tmp_path / "dub.wav"
    _, dub_truth_csv = make_sample_speech(dub_wav, seconds=n / fps, seed=21)
    spans = [(1.0, 6.0), (8.0, 14.0)]
    srt = tmp_path / "dub.srt"
    srt.write_text(
        "1\n00:00:01,000 --> 00:00:06,000\nfirst line\n\n2\n00:00:08,000 --> 00:00:14,000\nsecond line\n"
    )
    out = tmp_path / "dubbed.mkv"
    proc = run_s2l(
        "batch", str(srt), "--profile", str(trained_sample_profile), "--speech", str(dub_wav),
        "--video", str(video), "-o", str(out), "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = events(proc.stdout)[-1]
    assert summary["event"] == "summary" and summary["frames"] == n
    t = np.arange(n) / fps
    inside = np.zeros(n, bool)
    for start, end in spans:
        inside |= (t >= start) & (t < end)
    changed = []
    for k, (frame, source) in enumerate(zip(iter_frames(out), iter_frames(video), strict=True)):
        if not inside[k]:
            assert np.array_equal(frame, source), f"frame {k} outside the events was changed"
        else:
            changed.append(not np.array_equal(frame, source))
    assert np.mean(changed) > 0.9
    opening = mouth_openings(out, tmp_path / "track")
    core = np.zeros(n, bool)  # inside the events, past the ramps
    for start, end in spans:
        core |= (t >= start + 0.2) & (t < end - 0.2)
    dub_truth = read_truth_csv(dub_truth_csv)["openness"][:n]
    original_truth = read_truth_csv(folder / "truth.csv")["openness"][:n]
    ok = core & np.isfinite(opening)
    r_dub = float(np.corrcoef(opening[ok], dub_truth[ok])[0, 1])
    r_original = float(np.corrcoef(opening[ok], original_truth[ok])[0, 1])
    assert r_dub > 0.5 and r_dub > r_original + 0.2, (r_dub, r_original)


def test_subtitle_problems_are_named(tiny_profile: Path, sample_speaker, tmp_path: Path) -> None:
    srt = tmp_path / "bad.srt"
    srt.write_text(
        "1\n00:00:01,000 --> 00:00:03,000\na\n\n2\n00:00:02,000 --> 00:00:04,000\nb\n\n"
        "3\n00:01:00,000 --> 00:01:02,000\nc\n"
    )
    speech = write_wav(tmp_path / "s.wav", Speech(np.zeros(16000, np.float32), 16000))
    args = ["batch", str(srt), "--profile", str(tiny_profile), "--speech", str(speech)]
    args += ["--video", str(sample_speaker.video), "-o", str(tmp_path / "o.mp4"), "--dry-run", "--json"]
    proc = run_s2l(*args)
    assert proc.returncode == 2
    messages = " | ".join(e["message"] for e in events(proc.stdout) if e["event"] == "problem")
    assert (
        "events 1 and 2 overlap" in messages and "event 3" in messages and "after the video's end" in messages
    )
    assert not (tmp_path / "o.mp4").exists()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=400))
def test_malformed_subtitles_never_crash(text: str, tmp_path: Path) -> None:
    for suffix in (".srt", ".ass", ".vtt"):
        path = tmp_path / f"fuzz{suffix}"
        path.write_text(text, encoding="utf-8")
        try:
            found = read_events(path)
        except InputError as exc:
            assert "\n" not in str(exc)
            continue
        event_problems(found, 10.0)
