"""Where the rendered lips lose their sharpness, and what the real detail bank gives back (issue 16).

    .venv/bin/python bench/lip_detail.py PROFILE.prof --workdir WORKDIR [--bank 256 512 0] [--only ...]
                                         [--json FILE]

Every variant renders the profile's held-out frames through the profile's own composition (learned depth,
C2O, Blend-Net) and is scored by ``evaluate_heldout`` like ``bench/heldout.py``'s rows (mouth PSNR, SSIM,
LMD, CPBD, STLPIPS). The lips come from each frame's *true* mouth code (the renderer alone), so the speech →
code stage is out of the comparison:

- ``field``: the lip field alone, no detail;
- ``field + bank N``: plus the luma detail of the nearest of N exemplars (``fields/detail.py``), the bank
  built here from the build's training set (0: every training frame is an exemplar);
- ``field + the profile's bank``: the profile's own stored bank (what ``s2l dub`` renders);
- ``field, unsharp``: the field's lips with an unsharp mask (amount 1, 1 px), the cheap alternative;
- ``own lips``: the frame's own canonical lips (the training set's warp of the real frame), with Blend-Net's
  residual full-band and low-passed (``blend_residual_blur``): the composition's ceiling.

Also per variant, ``texture change``: the mean absolute frame-to-frame change of the lips' high-passed luma
(canonical box), beside the footage's own: detail that flickers would show here above the footage's value.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from s2l_model.dataset.trainset import load_training_set  # noqa: E402
from s2l_model.evaluate.compare import EvaluateConfig  # noqa: E402
from s2l_model.evaluate.heldout import evaluate_heldout, evaluation_metrics  # noqa: E402
from s2l_model.fields.detail import LipDetailBank, exemplar_frames, luma_detail  # noqa: E402
from s2l_model.geometry.crop import gaussian_blur  # noqa: E402
from s2l_model.media import Speech  # noqa: E402
from s2l_model.prepare.workfolder import WorkFolder  # noqa: E402
from s2l_model.profile.speaker import SpeakerProfile  # noqa: E402

_spec = importlib.util.spec_from_file_location("heldout_bench", ROOT / "bench" / "heldout.py")
heldout_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(heldout_bench)  # type: ignore[union-attr]

LipsOf = Callable[[list[int]], torch.Tensor]  # frames → (B, 3, h, w) canonical lips in [0, 1]
BATCH = 32


class LipsRenderer(heldout_bench.ComposedPasteRenderer):
    """Held-out frames with the given (1, 3, h, w) canonical lips per frame, composed by the profile's model
    (``residual_sigma``: Blend-Net's low-pass for this renderer, px; None: the profile's own)."""

    def __init__(self, data, model, video: Path, lips: dict[int, torch.Tensor], residual_sigma=None) -> None:
        super().__init__(data, model, video, choose=None, residual_sigma=residual_sigma)  # type: ignore[arg-type]
        self.lips = lips

    def canonical_lips(self, frames: list[int], speech: Speech) -> list[torch.Tensor]:
        return [self.lips[f][None] for f in frames]


def texture_change(lips: torch.Tensor, sigma: float) -> float:
    """Mean |frame-to-frame change| of the high-passed luma of (T, 3, h, w) consecutive lips."""
    high = luma_detail(lips, sigma)
    return float((high[1:] - high[:-1]).abs().mean())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("profile", type=Path)
    parser.add_argument(
        "--workdir", type=Path, required=True, help="the build's --workdir (its training set)"
    )
    parser.add_argument("--bank", type=int, nargs="*", default=[512], help="exemplar counts (0: all frames)")
    parser.add_argument("--only", nargs="*", default=None, help="run only these variants")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    profile = SpeakerProfile.load(args.profile)
    model = profile.model.eval()
    if model.mouth is None:
        parser.error("the profile's lip field is driven by speech: it has no mouth codes")
    data = load_training_set(WorkFolder(args.workdir).trainset.root)
    codes = np.nan_to_num(np.asarray(profile.arrays["mouth_codes"], np.float32))
    fps = float(profile.fps)
    box = model.layout.lip_box
    sigma = model.config.lip_detail_blur * box.width
    train = np.array(
        [f for f in data.train_frames if data.usable[f] and np.isfinite(data.mouth.codes[f]).all()]
    )

    def field(frames: list[int]) -> torch.Tensor:
        with torch.no_grad():
            c = torch.from_numpy(codes[frames])
            seconds = torch.from_numpy((np.asarray(frames) / fps).astype(np.float32))
            return model.field.render(model.condition_codes(c, seconds), box.width, box.height)

    def own(frames: list[int]) -> torch.Tensor:
        return (
            torch.from_numpy(np.stack([np.asarray(data.lips[f]) for f in frames])).permute(0, 3, 1, 2) / 255.0
        )

    def with_bank(bank: LipDetailBank) -> LipsOf:
        return lambda frames: bank.add(field(frames), torch.from_numpy(codes[frames])).clamp(0, 1)

    def unsharp(frames: list[int]) -> torch.Tensor:
        lips = field(frames)
        return (2 * lips - gaussian_blur(lips, 1.0)).clamp(0, 1)

    variants: dict[str, tuple[LipsOf, float | None]] = {"field": (lambda f: field(f).clamp(0, 1), None)}
    for n in args.bank:
        picked = train if n == 0 else train[exemplar_frames(data.mouth.codes[train], n)]
        bank = LipDetailBank(len(picked), codes.shape[1], box.width, box.height, sigma)
        bank.fill(data.mouth.codes[picked], data.lips[picked], data.lip_valid[picked])
        variants[f"field + bank {n or 'all'} ({len(picked)} exemplars)"] = (with_bank(bank), None)
    if model.detail is not None:
        variants["field + the profile's bank"] = (with_bank(model.detail), None)
    variants["field, unsharp"] = (unsharp, None)
    lip_blur = model.config.blend_residual_blur * box.width or 1.5
    variants["own lips, Blend-Net full-band"] = (own, 0.0)
    variants[f"own lips, Blend-Net low-passed {lip_blur:.2f} px"] = (own, lip_blur)
    if args.only:
        variants = {k: v for k, v in variants.items() if k in args.only}

    heldout = profile.heldout
    frames = [f for f in heldout if data.usable[f]]
    truth_change = texture_change(
        torch.cat([own(frames[i : i + BATCH]) for i in range(0, len(frames), BATCH)]), sigma
    )
    print(f"footage texture change {truth_change:.5f}", flush=True)
    landmarks, _ = heldout_bench.footage_landmarks(profile, args.workdir)
    config = EvaluateConfig(device="cpu", frame_lpips_samples=16)
    results: dict[str, dict] = {"footage": {"texture_change": round(truth_change, 5)}}
    with tempfile.TemporaryDirectory(prefix="lip-detail-bench-") as tmp:
        video = profile.extract_footage(Path(tmp))
        for k, (name, (lips_of, residual)) in enumerate(variants.items()):
            started = time.perf_counter()
            rendered = torch.cat([lips_of(frames[i : i + BATCH]) for i in range(0, len(frames), BATCH)])
            inner = LipsRenderer(data, model, video, dict(zip(frames, rendered, strict=True)), residual)
            wrapped = heldout_bench.MeasuredRegions(inner, video, profile.fps, landmarks)
            work = Path(tmp) / f"v{k}"
            work.mkdir()
            evaluation = evaluate_heldout(video, heldout, wrapped, work, config=config)
            metrics = evaluation_metrics(evaluation)
            row = {
                m: metrics.get(m)
                for m in ("psnr_mouth", "ssim_mouth", "lmd_px", "cpbd_mouth", "stlpips_mouth")
            }
            row["cpbd_mouth_truth"] = round(evaluation.mean("cpbd_mouth_truth"), 5)
            row["texture_change"] = round(texture_change(rendered, sigma), 5)
            row["seam_within"] = wrapped.seam_metrics()["seam/within"]
            row["seconds"] = round(time.perf_counter() - started, 1)
            results[name] = row
            print(name, json.dumps(row), flush=True)
    print("| lips (true codes) | mouth PSNR dB | SSIM | LMD px | CPBD (truth) | STLPIPS | texture change |")
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        if name == "footage":
            continue
        print(
            f"| {name} | {r['psnr_mouth']:.2f} | {r['ssim_mouth']:.3f} | {r['lmd_px']:.2f} | "
            f"{r['cpbd_mouth']:.3f} ({r['cpbd_mouth_truth']:.3f}) | {r['stlpips_mouth']:.3f} | "
            f"{r['texture_change']:.4f} |"
        )
    print(f"| footage | | | | | | {truth_change:.4f} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"profile": str(args.profile), "results": results}, indent=2))


if __name__ == "__main__":
    main()
