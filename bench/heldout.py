"""Held-out quality of a profile against two baselines (issue 5's acceptance).

    .venv/bin/python bench/heldout.py PROFILE.prof --workdir WORKDIR [--json bench/out/heldout.json]

WORKDIR is the ``--workdir`` of the ``s2l profile build`` that made PROFILE (it holds the training set the
baselines draw their mouths from). Every method renders the profile's held-out frames (the last 10 % of its
video, never trained on) with the held-out speech, through the same composition (C2O paste with the soft lip
mask), and is measured by the same ``evaluate`` code:

- s2l: the profile (lip field + Blend-Net);
- FROZEN: the canonical frame's mouth (the neutral, mouth-closed training frame the build chose) on every
  test frame;
- RETRIEVAL: for each test frame, the mouth of the training frame whose speech window (16 log-mel frames,
  standardised per band) is nearest in L2.

Figures: mouth-region PSNR and SSIM, LMD, the sync scores (profile-free envelope r and phones d', and the
profile's sync expert), whole-frame PSNR, and the PSNR outside the blend region (0 error expected: those
pixels are the source's).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from s2l_model.dataset.trainset import TrainingSet, load_training_set  # noqa: E402
from s2l_model.engine.config import load_preset  # noqa: E402
from s2l_model.engine.trainer import build_model  # noqa: E402
from s2l_model.evaluate.compare import EvaluateConfig  # noqa: E402
from s2l_model.evaluate.heldout import add_expert_scores, evaluate_heldout, evaluation_metrics  # noqa: E402
from s2l_model.evaluate.report import format_value  # noqa: E402
from s2l_model.features.speech import speech_windows  # noqa: E402
from s2l_model.media import Speech, iter_frames  # noqa: E402
from s2l_model.models.speaker import SpeakerModel, put_back  # noqa: E402
from s2l_model.prepare.workfolder import WorkFolder  # noqa: E402
from s2l_model.profile.speaker import SpeakerProfile  # noqa: E402
from s2l_model.render.renderer import ProfileRenderer  # noqa: E402


class PasteRenderer:
    """Pastes a chosen canonical mouth image into each frame (no Blend-Net, the mesh depth)."""

    def __init__(self, data: TrainingSet, model: SpeakerModel, video: Path, choose) -> None:
        self.data, self.model, self.video, self.choose = data, model, video, choose

    def render_with_regions(
        self, frames: Sequence[int], speech: Speech
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        d, model = self.data, self.model
        frames = list(frames)
        sources = self.choose(frames, speech)  # training frame per output frame
        cw, ch = d.crop_size
        start = frames[0] / d.fps
        with torch.no_grad():
            for k, src in enumerate(iter_frames(self.video, start=float(start), max_frames=len(frames))):
                f = frames[k]
                if not d.usable[f]:
                    yield src, np.zeros(src.shape[:2], bool)
                    continue
                lips = torch.from_numpy(np.asarray(d.lips[sources[k]])).permute(2, 0, 1)[None].float() / 255
                x, y = (int(v) for v in d.origins[f])
                crop = torch.from_numpy(src[y : y + ch, x : x + cw]).permute(2, 0, 1)[None].float() / 255
                grid = model.crop_grid(
                    torch.from_numpy(d.rotations[f : f + 1]),
                    torch.from_numpy(d.translations[f : f + 1]),
                    torch.from_numpy(d.origins[f : f + 1].astype(np.int64)),
                )
                out = model.compose(lips, crop, grid)
                pixels = (out.output[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
                yield put_back(src, (x, y), pixels, out.blend_mask[0, 0].numpy() > 0)


class OutsideRegion:
    """Wraps a renderer: records the PSNR of every frame outside its re-rendered region vs. the source."""

    def __init__(self, inner, video: Path, fps) -> None:
        self.inner, self.video, self.fps = inner, video, fps
        self.sq_err = 0.0
        self.count = 0

    def render(self, frames: Sequence[int], speech: Speech) -> Iterator[np.ndarray]:
        start = frames[0] / self.fps
        sources = iter_frames(self.video, start=float(start), max_frames=len(frames))
        for (frame, region), src in zip(
            self.inner.render_with_regions(frames, speech), sources, strict=False
        ):
            outside = ~region
            diff = frame[outside].astype(np.float64) - src[outside].astype(np.float64)
            self.sq_err += float(np.square(diff).sum())
            self.count += int(diff.size)
            yield frame

    def psnr(self) -> float:
        mse = self.sq_err / max(self.count, 1)
        return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def frozen_choice(data: TrainingSet):
    return lambda frames, speech: [data.canonical_frame] * len(frames)


def retrieval_choice(data: TrainingSet):
    train = data.train_frames
    bank = data.speech[train].reshape(len(train), -1).astype(np.float64)
    mean, std = bank.mean(axis=0), bank.std(axis=0) + 1e-6
    bank = (bank - mean) / std

    def choose(frames: list[int], speech: Speech) -> list[int]:
        query = speech_windows(speech, data.fps, len(frames)).reshape(len(frames), -1).astype(np.float64)
        query = (query - mean) / std
        dist = (query**2).sum(1)[:, None] - 2 * query @ bank.T + (bank**2).sum(1)[None, :]
        return [int(train[i]) for i in dist.argmin(axis=1)]

    return choose


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("profile", type=Path)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument(
        "--video", type=Path, default=None, help="the footage (default: extracted from the profile)"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    profile = SpeakerProfile.load(args.profile)
    data = load_training_set(WorkFolder(args.workdir).trainset.root)
    paste_model = build_model(data, load_preset("fast"))
    config = EvaluateConfig(device="cpu", frame_lpips_samples=16)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="heldout-bench-") as tmp:
        video = args.video or profile.extract_footage(Path(tmp))
        renderers = {
            "s2l": ProfileRenderer(profile, video),
            "FROZEN": PasteRenderer(data, paste_model, video, frozen_choice(data)),
            "RETRIEVAL": PasteRenderer(data, paste_model, video, retrieval_choice(data)),
        }
        for name, inner in renderers.items():
            started = time.perf_counter()
            wrapped = OutsideRegion(inner, video, data.fps)
            work = Path(tmp) / name
            work.mkdir()
            evaluation = evaluate_heldout(video, data.heldout, wrapped, work, config=config)
            add_expert_scores(evaluation, profile, data.heldout)
            metrics = evaluation_metrics(evaluation)
            metrics["psnr_outside_blend"] = wrapped.psnr()
            metrics["seconds"] = round(time.perf_counter() - started, 1)
            results[name] = metrics
            print(name, json.dumps(metrics), flush=True)
    columns = [
        ("psnr_mouth", "mouth PSNR dB ↑"), ("ssim_mouth", "mouth SSIM ↑"), ("lmd_px", "LMD px ↓"),
        ("sync/prediction/envelope", "sync envelope r ↑"), ("sync/prediction/phones", "sync phones d' ↑"),
        ("sync/prediction/expert", "sync expert cos ↑"), ("psnr_frame", "frame PSNR dB ↑"),
        ("psnr_outside_blend", "PSNR outside blend region"),
    ]  # fmt: skip
    print("| method | " + " | ".join(label for _, label in columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name, m in results.items():
        cells = [
            "∞ (identical)"
            if m.get(k) == float("inf")
            else format_value(float("nan") if m.get(k) is None else float(m[k]))
            for k, _ in columns
        ]
        print(f"| {name} | " + " | ".join(cells) + " |")
    truth = {k: v for k, v in results["s2l"].items() if k.startswith("sync/truth")}
    print("truth sync:", truth)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"profile": str(args.profile), "machine": platform.platform(), "results": results}
        args.json.write_text(json.dumps(payload, indent=2, default=str))


if __name__ == "__main__":
    main()
