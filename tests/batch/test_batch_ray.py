"""`s2l batch --executor ray` against a local Ray instance: the same jobs give the same outputs as the local
process pool; a failed job fails alone; a subtitle file runs as one Ray task with the same output as in
the process itself; the task resources follow the cluster."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from s2l_model.batch.ray_executor import task_resources
from s2l_model.batch.subtitles import Casting
from s2l_model.errors import InputError
from s2l_model.media import iter_frames, probe_video
from s2l_model.pipelines.subtitles import SubtitleOptions, revoice_subtitles
from s2l_model.sample import SampleOutputs
from tests.batch.test_batch import write_csv
from tests.support import run_s2l


def test_task_resources_follow_the_cluster() -> None:
    cpus_only = {"CPU": 16.0}
    assert task_resources(cpus_only, 8.0, "auto", 4) == {"num_cpus": 4, "num_gpus": 0}
    assert task_resources(cpus_only, 8.0, "auto", 1) == {"num_cpus": 8, "num_gpus": 0}  # fits one node
    assert task_resources(cpus_only, 8.0, "auto", 40) == {"num_cpus": 1, "num_gpus": 0}
    with_gpus = {"CPU": 16.0, "GPU": 2.0}
    assert task_resources(with_gpus, 8.0, "auto", 4) == {"num_cpus": 1, "num_gpus": 1}
    assert task_resources(with_gpus, 8.0, "cpu", 4) == {"num_cpus": 4, "num_gpus": 0}
    with pytest.raises(InputError, match="no GPU"):
        task_resources(cpus_only, 8.0, "cuda", 1)


def _frames(path: Path) -> np.ndarray:
    return np.stack(list(iter_frames(path)))


def test_ray_runs_the_same_jobs_as_the_local_pool(job_folder: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install 's2l[ray]'")
    rows = [f"r{k},speaker.prof,line{k % 3}.wav,r{k}.mkv" for k in range(4)]  # ffv1: lossless, comparable
    rows.append("bad,speaker.prof,line0.wav,sub/../../bad.mkv")  # invalid: fails alone, never runs
    jobs = write_csv(job_folder, rows, name="ray.csv")
    local = run_s2l("batch", str(jobs), "-o", str(tmp_path / "local"), "--workers", "2", "--json")
    on_ray = run_s2l(
        "batch", str(jobs), "-o", str(tmp_path / "ray"), "--executor", "ray", "--workers", "2", "--json"
    )
    assert local.returncode == 1 and on_ray.returncode == 1, on_ray.stderr[-2000:]
    evs = [json.loads(line) for line in on_ray.stdout.splitlines()]  # stdout: JSON lines only
    summary = evs[-1]
    assert summary["event"] == "summary" and (summary["done"], summary["failed"]) == (4, 1)
    assert sum(e["event"] == "job_started" for e in evs) == 4
    assert any(e["event"] == "progress" for e in evs)
    report = json.loads((tmp_path / "ray" / "batch_report.json").read_text())
    assert [j["status"] for j in report["jobs"]] == ["done"] * 4 + ["failed"]
    for k in range(4):
        mine, theirs = tmp_path / "ray" / f"r{k}.mkv", tmp_path / "local" / f"r{k}.mkv"
        assert probe_video(mine).video.n_frames == probe_video(theirs).video.n_frames  # type: ignore[union-attr]
        assert np.array_equal(_frames(mine), _frames(theirs)), f"job r{k} differs between Ray and local"


def test_ray_revoices_a_subtitle_file_as_the_local_run_does(
    tiny_profile: Path, sample_speaker: SampleOutputs, tmp_path: Path
) -> None:
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install 's2l[ray]'")
    srt = tmp_path / "lines.srt"
    srt.write_text("1\n00:00:01,000 --> 00:00:03,000\nfirst\n\n2\n00:00:05,000 --> 00:00:07,000\nsecond\n")
    casting = Casting(profiles={"": tiny_profile})
    options = SubtitleOptions(
        srt, sample_speaker.video, tmp_path / "local.mkv", casting, sample_speaker.speech
    )
    local = revoice_subtitles(options)  # the library's one call, in this process (ffv1: lossless)
    on_ray = run_s2l(
        "batch", str(srt), "--profile", str(tiny_profile), "--speech", str(sample_speaker.speech),
        "--video", str(sample_speaker.video), "-o", str(tmp_path / "ray.mkv"), "--executor", "ray", "--json",
    )  # fmt: skip
    assert on_ray.returncode == 0, on_ray.stderr[-2000:]
    evs = [json.loads(line) for line in on_ray.stdout.splitlines()]  # stdout: JSON lines only
    assert any(e["event"] == "progress" for e in evs)  # the task's progress comes back
    summary = evs[-1]
    assert summary["event"] == "summary" and summary["output"] == str(tmp_path / "ray.mkv")
    assert (summary["frames"], summary["rendered_frames"], summary["events"]) == (
        local.frames, local.rendered_frames, local.events,
    )  # fmt: skip
    assert np.array_equal(_frames(tmp_path / "ray.mkv"), _frames(local.output))


def test_ray_options_are_checked(job_folder: Path, tmp_path: Path) -> None:
    jobs = write_csv(job_folder, ["a,speaker.prof,line0.wav,a.mp4"], name="opts.csv")
    proc = run_s2l("batch", str(jobs), "-o", str(tmp_path), "--address", "ray://nowhere:1")
    assert proc.returncode == 2 and "--address is for --executor ray" in proc.stderr
    srt = tmp_path / "lines.srt"
    srt.write_text("1\n00:00:01,000 --> 00:00:02,000\nhello\n")
    proc = run_s2l("batch", str(srt), "-o", str(tmp_path / "o.mp4"), "--address", "ray://nowhere:1")
    assert proc.returncode == 2 and "--address is for --executor ray" in proc.stderr
