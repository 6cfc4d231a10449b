"""The speech → mouth-code stage alone, trained and measured in variants (the code-level ablation).

    .venv/bin/python bench/mouth_stage.py WORKDIR [--variants all|NAME,...] [--json OUT.json]
                                          [--profile PROFILE.prof]

WORKDIR is the ``--workdir`` of an ``s2l profile build`` with a mouth-driven preset (it holds the training
set with its true mouth codes). Each variant re-featurises the training speech as it hears it (in a scratch
folder), trains only the mouth stage with the fast preset's settings (its steps, fixed seed), and reports on
the held-out 10 % (never trained on) the correlation of the predicted mouth opening with the tracked one,
their std ratio, and the first code component's correlation; plus the stage's CPU seconds.

Variants: ``full`` (phonemes + mel, augmentation, calibration, all losses), ``mel_only``, ``phonemes_only``,
``no_augment``, ``no_calibration``, ``no_variance`` (variance weight 0), ``no_velocity``, ``no_sync``.

With ``--profile`` (the profile that build wrote), each variant is also measured at the render level: its
stage replaces the profile's, and the held-out 10 % is rendered from its own speech through the profile's
lip field and Blend-Net (``ProfileRenderer``, what ``s2l dub`` composes) and scored by ``evaluate`` (mouth
PSNR / SSIM, the square box, LMD, CPBD). That is each variant's build: the lip field is trained on the true
codes, and nothing of it depends on the speech stage (a time-budgeted build's only coupling is that a
slower stage leaves the lip field fewer steps; at the fast preset the stage takes about a minute).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from s2l_model.dataset.mouthset import build_mouth_set  # noqa: E402
from s2l_model.dataset.trainset import load_training_set  # noqa: E402
from s2l_model.engine.config import load_preset  # noqa: E402
from s2l_model.engine.trainer import Trainer  # noqa: E402
from s2l_model.evaluate.compare import EvaluateConfig  # noqa: E402
from s2l_model.evaluate.heldout import evaluate_heldout, evaluation_metrics  # noqa: E402
from s2l_model.features.speech import array_reader  # noqa: E402
from s2l_model.features.vad import silero_activity  # noqa: E402
from s2l_model.geometry.mouthcode import code_opening  # noqa: E402
from s2l_model.media import load_speech  # noqa: E402
from s2l_model.models.mouth import MouthStage  # noqa: E402
from s2l_model.prepare.workfolder import TrainsetFolder, WorkFolder  # noqa: E402
from s2l_model.profile.speaker import SpeakerProfile  # noqa: E402
from s2l_model.render.renderer import ProfileRenderer  # noqa: E402

VARIANTS: dict[str, dict[str, dict]] = {
    "full": {},
    "mel_only": {"model": {"speech_phonemes": False}},
    "phonemes_only": {"model": {"speech_mel": False}},
    "no_augment": {"train": {"mouth_augment": False}},
    "no_calibration": {"train": {"mouth_calibrate": False}},
    "no_variance": {"loss": {"mouth_variance": 0.0}},
    "no_velocity": {"loss": {"mouth_velocity": 0.0}},
    "no_sync": {"loss": {"mouth_sync": 0.0}},
}


def variant_preset(name: str):
    base = load_preset("fast")
    change = VARIANTS[name]
    model = dataclasses.replace(base.model, **change.get("model", {}))
    loss = dataclasses.replace(base.train.loss, **change.get("loss", {}))
    train = dataclasses.replace(base.train, **change.get("train", {}), loss=loss)
    return dataclasses.replace(base, model=model, train=train)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def run_variant(name: str, workdir: Path, scratch: Path) -> tuple[dict[str, float], MouthStage]:
    preset = variant_preset(name)
    data = load_training_set(WorkFolder(workdir).trainset.root)
    assert data.mouth is not None, "a training set with its mouth set"
    speech = load_speech(Path(json.loads((data.folder / "trainset.json").read_text())["video"]))
    folder = TrainsetFolder(scratch / name)
    folder.root.mkdir(parents=True)
    cpu0 = time.process_time()
    # a variant that hears the speech as the build did trains on the build's own features
    same_features = "model" not in VARIANTS[name] and "mouth_augment" not in VARIANTS[name].get("train", {})
    data.mouth = (
        data.mouth
        if same_features
        else build_mouth_set(
            folder,
            speech,
            data.fps,
            data.mouth.points,
            data.train_frames,
            data.canonical_frame,
            preset.model.mouth_components,
            preset.model.speech_features(),
            augment=preset.train.mouth_augment,
        )
    )
    cpu_features = time.process_time() - cpu0
    torch.manual_seed(0)
    trainer = Trainer(data, preset, torch.device("cpu"), scratch / name, seed=0)
    cpu0 = time.process_time()
    trainer.train_mouth(float("inf"), None)
    cpu_train = time.process_time() - cpu0
    stage = trainer.model.mouth
    assert stage is not None
    held = np.array([f for f in data.heldout if data.usable[f]])
    activity = silero_activity(array_reader(speech.samples), data.n_frames, data.fps, speech.sample_rate)
    with torch.no_grad():
        windows = torch.from_numpy(np.asarray(data.mouth.copies[0].features[held], np.float32))
        codes = stage.speak(windows, torch.from_numpy(activity[held]), 1.0).numpy()
    basis = stage.basis()
    truth = data.mouth.codes[held]
    p_open, t_open = code_opening(basis, codes), code_opening(basis, truth)
    return {
        "heldout_frames": len(held),
        "opening_r": _corr(p_open, t_open),
        "opening_std_ratio": float(p_open.std() / t_open.std()),
        "code0_r": _corr(codes[:, 0], truth[:, 0]),
        "code_mse": float(np.mean((codes - truth) ** 2)),
        "calibration_slice_opening_r": trainer.mouth_check.get("opening_r", float("nan")),
        "gain_mean": float(stage.gain.mean()),
        "cpu_s_features": round(cpu_features, 1),
        "cpu_s_stage": round(cpu_train, 1),
    }, stage


#: ``bench/heldout.py``'s settings (perceptual scores on a sample of 16 frames)
EVALUATE = EvaluateConfig(device="cpu", frame_lpips_samples=16)
RENDER_COLUMNS = ("psnr_mouth", "ssim_mouth", "psnr_mouth_square", "lmd_px", "cpbd_mouth", "cpbd_mouth_truth")


def render_variant(name: str, stage: MouthStage, profile: SpeakerProfile, video: Path, scratch: Path) -> dict:
    """The held-out 10 % rendered with ``stage`` in ``profile``'s place (its lip field and Blend-Net)."""
    model = profile.model
    own_stage, own_config = model.mouth, model.config
    model.mouth = stage.eval()
    model.config = dataclasses.replace(own_config, **VARIANTS[name].get("model", {}))
    try:
        work = scratch / f"{name}-render"
        work.mkdir()
        started = time.perf_counter()
        evaluation = evaluate_heldout(
            video, profile.heldout, ProfileRenderer(profile, video), work, config=EVALUATE
        )
        metrics = evaluation_metrics(evaluation)
        out = {c: round(evaluation.mean(c), 5) for c in RENDER_COLUMNS if c not in metrics}
        out.update({c: metrics[c] for c in RENDER_COLUMNS if c in metrics})
        out["render_s"] = round(time.perf_counter() - started, 1)
        return out
    finally:
        model.mouth, model.config = own_stage, own_config


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--variants", default="all")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--profile", type=Path, default=None, help="the build's profile: also render each variant's held-out"
    )
    args = parser.parse_args()
    names = list(VARIANTS) if args.variants == "all" else args.variants.split(",")
    results = {}
    with tempfile.TemporaryDirectory(prefix="mouth-stage-") as tmp:
        profile = None if args.profile is None else SpeakerProfile.load(args.profile)
        video = None if profile is None else profile.extract_footage(Path(tmp))
        for name in names:
            results[name], stage = run_variant(name, args.workdir, Path(tmp))
            if profile is not None and video is not None:
                results[name].update(render_variant(name, stage, profile, video, Path(tmp)))
            print(name, json.dumps(results[name]), flush=True)
    cols = ["opening_r", "opening_std_ratio", "code0_r", "code_mse", "cpu_s_stage"]
    if args.profile is not None:
        cols += list(RENDER_COLUMNS)
    print("| variant | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for name, r in results.items():
        print(f"| {name} | " + " | ".join(f"{r[c]:.3g}" for c in cols) + " |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
