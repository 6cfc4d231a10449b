"""`s2l profile build` end to end on the built-in sample speaker, with a tiny preset; `info`, `evaluate`
on the profile, resumption after an interruption, and refusal of damaged profiles."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from s2l_model.prepare.workfolder import WorkFolder
from s2l_model.profile.container import read_manifest, read_profile
from s2l_model.profile.manifest import ProfileManifest, read_speaker_manifest
from tests.conftest import TINY_PRESET as TINY
from tests.support import assert_one_line_error, run_s2l


@pytest.fixture(scope="module")
def tiny_preset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("preset") / "tiny.toml"
    path.write_text(TINY)
    return path


@pytest.fixture(scope="module")
def built(sample_speaker, tiny_preset: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("built")
    out, work = folder / "sample.prof", folder / "work"
    proc = run_s2l(
        "profile", "build", str(sample_speaker.video), "-o", str(out), "--preset", str(tiny_preset),
        "--workdir", str(work), "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr + proc.stdout
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert {e["event"] for e in events} <= {"progress", "result"}  # --json: JSON lines only
    stages = {e["stage"] for e in events if e["event"] == "progress"}
    assert {"tracking", "training set", "sync expert", "training"} <= stages
    return {"profile": out, "work": work, "result": events[-1]}


def test_build_writes_a_profile_with_heldout_metrics(built: dict) -> None:
    result = built["result"]
    assert result["event"] == "result" and result["steps"] == 12
    stored = read_manifest(built["profile"])
    assert stored["kind"] == "s2l speaker profile" and stored["format_version"] == 2
    m = ProfileManifest.from_dict(stored)
    held = m.split.heldout
    assert held.stop == m.frames and len(held) == round(0.1 * m.frames)  # the last 10 % held out
    assert m.split.train == range(0, held.start)
    assert m.canonical_frame < held.start  # the canonical view never comes from the held-out part
    for key in ("psnr_mouth", "ssim_mouth", "lmd_px", "psnr_frame", "sync/prediction/expert"):
        assert isinstance(m.metrics[key], float), key
    assert m.stored_bytes - m.footage_bytes < 50e6
    assert result["metrics"] == m.metrics
    # the typed record writes back exactly the JSON it was read from (the container adds the rest)
    container_keys = ("format_version", "s2l_version", "members")
    assert m.to_dict() == {k: v for k, v in stored.items() if k not in container_keys}


def test_profile_round_trips_the_trained_tensors(built: dict) -> None:
    contents = read_profile(built["profile"])
    checkpoint = torch.load(WorkFolder(built["work"]).checkpoint, weights_only=True)
    stored = contents.weights["model"]
    assert stored.keys() == checkpoint["model"].keys()
    for name, tensor in checkpoint["model"].items():
        assert torch.equal(stored[name], tensor), name
    assert contents.arrays["rotations"].shape[0] == read_speaker_manifest(built["profile"]).frames
    assert contents.images["canonical"].ndim == 3


def test_work_folder_holds_what_it_names(built: dict) -> None:
    work = WorkFolder(built["work"])
    assert work.can_resume() and work.checkpoint.is_file() and work.prep.is_complete()
    prep, trainset = work.prep, work.trainset
    for path in (prep.landmarks_raw, prep.landmarks, prep.poses, prep.frames, prep.canonical_image):
        assert path.is_file(), path
    for path in (prep.canonical_depth, prep.face_mask, prep.head_mask, prep.mouth_mask):
        assert path.is_file(), path
    for path in (trainset.geometry, trainset.lips, trainset.lip_valid, trainset.crops, trainset.speech):
        assert path.is_file(), path
    assert trainset.sync_speech.is_file()


def test_profile_info(built: dict) -> None:
    proc = run_s2l("profile", "info", str(built["profile"]))
    assert proc.returncode == 0, proc.stderr
    assert "held-out psnr_mouth" in proc.stdout and "canonical frame" in proc.stdout
    proc = run_s2l("profile", "info", str(built["profile"]), "--json")
    events = [json.loads(line) for line in proc.stdout.splitlines()]  # JSON lines only: progress, result
    assert {e["event"] for e in events[:-1]} <= {"progress"} and events[-1]["event"] == "result"
    assert events[-1]["manifest"]["preset"]["name"] == "tiny" and events[-1]["verified"] is True


def test_evaluate_a_profile_prints_the_papers_columns(built: dict) -> None:
    proc = run_s2l("evaluate", str(built["profile"]), "--no-report", "--no-phones")
    assert proc.returncode == 0, proc.stderr
    for column in ("PSNR", "SSIM", "LPIPS", "CPBD", "LMD", "Sync", "held-out frames"):
        assert column in proc.stdout, column
    proc = run_s2l("evaluate", "--profile", str(built["profile"]), "--no-report", "--no-phones", "--json")
    summary = json.loads(proc.stdout.splitlines()[-1])["summary"]
    assert {row["metric"] for row in summary} == {"PSNR", "SSIM", "LPIPS", "CPBD", "LMD", "Sync"}
    expert = [row for row in summary if row["variant"].startswith("profile sync expert (per-speaker proxy)")]
    assert len(expert) == 1 and expert[0]["prediction"] is not None and expert[0]["truth"] is not None


def test_evaluate_refuses_a_profile_with_pred(built: dict) -> None:
    proc = run_s2l("evaluate", str(built["profile"]), "--pred", str(built["profile"]))
    assert_one_line_error(proc, "one of the two")


def _rewrite(src: Path, dst: Path, change: dict[str, bytes]) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, change.get(item.filename, zin.read(item.filename)))


def test_damaged_profiles_are_refused_in_one_line(built: dict, tmp_path: Path) -> None:
    src = built["profile"]
    truncated = tmp_path / "truncated.prof"
    truncated.write_bytes(src.read_bytes()[: src.stat().st_size // 2])
    assert_one_line_error(run_s2l("profile", "info", str(truncated)), "truncated.prof")
    tampered = tmp_path / "tampered.prof"
    m = read_manifest(src)
    original = np.load(__import__("io").BytesIO(zipfile.ZipFile(src).read("arrays/origins.npy")))
    buf = __import__("io").BytesIO()
    np.save(buf, original + 1)
    _rewrite(src, tampered, {"arrays/origins.npy": buf.getvalue()})
    assert_one_line_error(run_s2l("evaluate", str(tampered), "--no-report"), "arrays/origins.npy")
    newer = tmp_path / "newer.prof"
    m["format_version"] = 99
    _rewrite(src, newer, {"manifest.json": json.dumps(m).encode()})
    assert_one_line_error(run_s2l("profile", "info", str(newer)), "newer")


def test_interrupted_build_resumes_from_its_checkpoint(
    sample_speaker, tiny_preset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Ctrl-C mid-training saves a checkpoint and exits 130; --resume continues from that step."""
    from s2l_cli.app import main
    from s2l_model.engine import trainer as trainer_module

    out, work = tmp_path / "r.prof", tmp_path / "work"
    args = ["profile", "build", str(sample_speaker.video), "-o", str(out), "--preset", str(tiny_preset)]
    args += ["--workdir", str(work), "--no-eval"]
    real_step = trainer_module.Trainer.train_step
    seen: list[int] = []

    def interrupt_at_5(self, progress):  # the user presses Ctrl-C during step 6
        if self.step == 5:
            raise KeyboardInterrupt
        return real_step(self, progress)

    monkeypatch.setattr(trainer_module.Trainer, "train_step", interrupt_at_5)
    assert main(args) == 130
    err = capsys.readouterr().err
    assert "--resume" in err and "Traceback" not in err
    assert not out.exists()
    saved = torch.load(WorkFolder(work).checkpoint, weights_only=True)
    assert saved["step"] == 5 and saved["expert_step"] == 6

    def record(self, progress):
        seen.append(self.step)
        return real_step(self, progress)

    monkeypatch.setattr(trainer_module.Trainer, "train_step", record)
    assert main([*args, "--resume"]) == 0
    assert seen[0] == 5 and len(seen) == 7  # steps 6..12 only: nothing redone
    assert read_speaker_manifest(out).training.steps == 12
    # without an interrupted build, --resume says so
    other = tmp_path / "none"
    assert main([*args[:-3], "--workdir", str(other), "--resume"]) == 2


def test_a_build_probes_its_video_once(
    sample_speaker, tiny_preset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Prepare, the training set, tracking and the held-out check reuse the build's one probe."""
    import av

    from s2l_model.pipelines.build import BuildOptions, build_profile

    real_open = av.open
    opened: list[str] = []

    def counting_open(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(av, "open", counting_open)
    build_profile(sample_speaker.video, tmp_path / "once.prof", BuildOptions(preset=str(tiny_preset)))
    assert opened.count(str(sample_speaker.video)) == 1, opened
