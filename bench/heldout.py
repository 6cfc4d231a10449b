"""Held-out quality of a profile against two fair baselines (issues 5 and 16).

    .venv/bin/python bench/heldout.py PROFILE.prof [--workdir WORKDIR] [--json bench/out/heldout.json]
                                      [--composed-baselines] [--oracles]

Every method renders the profile's held-out frames (the last 10 % of its video, never trained on) with the
held-out speech, and is measured by the same ``evaluate`` code:

- s2l: the profile (lip field + Blend-Net), through ``ProfileRenderer`` (what ``s2l dub`` composes);
- s2l true codes (mouth-driven profiles): the renderer alone, each frame rendered from its own tracked mouth
  code instead of the one its speech predicts;
- FROZEN: the canonical frame (the neutral, mouth-closed training frame the build chose) on every test
  frame;
- RETRIEVAL: for each test frame, the training frame whose speech window (16 log-mel frames, standardised
  per band over the training frames) is nearest in L2.

FROZEN and RETRIEVAL are a competitor's direct paste at source resolution (``evaluate/baselines.py``): the
source video frame is aligned to the target by a similarity transform fitted by least squares to the lip
corners and nose points of both frames' tracked landmarks, warped at full resolution and pasted through a
feathered convex hull of the target's lips (``--mask lower-face``: lips, nose base and jaw). The landmarks
are the build's filtered tracks: ``WORKDIR/prep/landmarks.npy`` when ``--workdir`` is given (float32),
else the copy the profile keeps (float16: 0.25 px steps at 512 px, 1 px at 1920). ``--composed-baselines``
adds the old FROZEN-C2O and RETRIEVAL-C2O, which render the chosen training mouth through s2l's own
composition (C2O paste with the soft lip mask, no Blend-Net); they need ``--workdir`` (the training set's
lips). ``--oracles`` (also ``--workdir``) composes each held-out frame's own canonical lips through the
profile's model: the ceiling a perfect lip field would reach, at full and at the field's training size, and
without Blend-Net and with bicubic C2O (where the composition softens the mouth).

Figures: mouth-region PSNR and SSIM (the default 1.6 x 1.1 mouth-width box and the square 1.6 box), LMD,
the sync scores (profile-free envelope r and phones d', and the profile's sync expert), whole-frame PSNR,
the PSNR outside the written region (0 error expected: those pixels are the source's), and the seam ratio
(``metrics/seam.py``: median, and the share of frames within 10 %).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from s2l_model.evaluate.baselines import MOUTH_MASK, PASTE_MASKS, PasteMask, paste_mouth  # noqa: E402
from s2l_model.evaluate.compare import EvaluateConfig  # noqa: E402
from s2l_model.evaluate.heldout import add_expert_scores, evaluate_heldout, evaluation_metrics  # noqa: E402
from s2l_model.evaluate.report import format_value  # noqa: E402
from s2l_model.features.speech import speech_windows  # noqa: E402
from s2l_model.geometry.crop import IMAGE_SAMPLING  # noqa: E402
from s2l_model.media import Speech, iter_frames, load_speech, probe_video, seek_seconds  # noqa: E402
from s2l_model.metrics.landmarks import found_mask, lip_points  # noqa: E402
from s2l_model.metrics.seam import seam_score, summarise  # noqa: E402
from s2l_model.prepare.workfolder import WorkFolder  # noqa: E402
from s2l_model.profile.speaker import SpeakerProfile  # noqa: E402
from s2l_model.render.renderer import ProfileRenderer  # noqa: E402
from s2l_model.tracking.store import read_rows  # noqa: E402

Choose = Callable[[list[int], Speech], list[int]]


class DirectPasteRenderer:
    """FROZEN / RETRIEVAL as a direct paste of the chosen source frame (``evaluate/baselines.py``)."""

    def __init__(
        self,
        video: Path,
        fps: Fraction,
        landmarks: np.ndarray,
        choose: Choose,
        mask: PasteMask = MOUTH_MASK,
    ) -> None:
        self.video, self.fps, self.landmarks, self.choose, self.mask = video, fps, landmarks, choose, mask
        self.info = probe_video(video)
        self.found = found_mask(landmarks)
        self.fit_errors: list[float] = []
        self._cache: dict[int, np.ndarray] = {}

    def _frame(self, index: int) -> np.ndarray:
        if index not in self._cache:
            if len(self._cache) > 64:
                self._cache.clear()
            start = seek_seconds(index, self.fps)
            self._cache[index] = next(iter_frames(self.video, info=self.info, start=start, max_frames=1))
        return self._cache[index]

    def render_with_regions(
        self, frames: Sequence[int], speech: Speech
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        frames = list(frames)
        sources = self.choose(frames, speech)  # the source frame behind each output frame
        start = seek_seconds(frames[0], self.fps)
        decoded = iter_frames(self.video, info=self.info, start=start, max_frames=len(frames))
        for f, s, target in zip(frames, sources, decoded, strict=False):
            if not (self.found[f] and self.found[s]):
                yield target, np.zeros(target.shape[:2], bool)
                continue
            paste = paste_mouth(target, self.landmarks[f], self._frame(s), self.landmarks[s], self.mask)
            self.fit_errors.append(paste.fit_error_px)
            yield paste.frame, paste.region


class MeasuredRegions:
    """Wraps a renderer: per frame, the PSNR outside its written region vs. the source, and the seam."""

    def __init__(self, inner, video: Path, fps, landmarks: np.ndarray) -> None:
        self.inner, self.video, self.fps, self.landmarks = inner, video, fps, landmarks
        self.sq_err = 0.0
        self.count = 0
        self.seams: list = []

    def render(self, frames: Sequence[int], speech: Speech) -> Iterator[np.ndarray]:
        sources = iter_frames(self.video, start=seek_seconds(frames[0], self.fps), max_frames=len(frames))
        lips = lip_points()
        for f, (frame, region), src in zip(
            frames, self.inner.render_with_regions(frames, speech), sources, strict=False
        ):
            outside = ~region
            diff = frame[outside].astype(np.float64) - src[outside].astype(np.float64)
            self.sq_err += float(np.square(diff).sum())
            self.count += int(diff.size)
            mouth_bottom = self.landmarks[f, lips, 1].max()  # the jaw part of the seam: below the lips
            below = float(mouth_bottom) if np.isfinite(mouth_bottom) else None
            self.seams.append(seam_score(src, frame, region, below=below))
            yield frame

    def psnr(self) -> float:
        mse = self.sq_err / max(self.count, 1)
        return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)

    def seam_metrics(self) -> dict[str, float | int]:
        overall = summarise([s.ratio for s in self.seams])
        jaw = summarise([s.jaw_ratio for s in self.seams])
        return {
            "seam/median": round(overall.median, 4),
            "seam/p95": round(overall.p95, 4),
            "seam/max": round(overall.max, 4),
            "seam/within": round(overall.within, 4),
            "seam/jaw_median": round(jaw.median, 4),
            "seam/jaw_within": round(jaw.within, 4),
            "seam/frames": overall.measured,
        }


def frozen_choice(canonical_frame: int) -> Choose:
    return lambda frames, speech: [canonical_frame] * len(frames)


def retrieval_choice(bank_windows: np.ndarray, train: np.ndarray, fps: Fraction) -> Choose:
    """Nearest training frame by the standardised 16x80 log-mel window (``bank_windows``: (N, 16, 80) of
    every footage frame; ``train``: the frames it may choose)."""
    bank = bank_windows[train].reshape(len(train), -1).astype(np.float64)
    mean, std = bank.mean(axis=0), bank.std(axis=0) + 1e-6
    bank = (bank - mean) / std

    def choose(frames: list[int], speech: Speech) -> list[int]:
        query = speech_windows(speech, fps, len(frames)).reshape(len(frames), -1).astype(np.float64)
        query = (query - mean) / std
        dist = (query**2).sum(1)[:, None] - 2 * query @ bank.T + (bank**2).sum(1)[None, :]
        return [int(train[i]) for i in dist.argmin(axis=1)]

    return choose


def composed_baselines(profile: SpeakerProfile, workdir: Path, video: Path) -> dict[str, object]:
    """The old baselines (``--composed-baselines``): the chosen training mouth, composed by s2l's C2O."""
    from s2l_model.dataset.trainset import load_training_set
    from s2l_model.engine.config import load_preset
    from s2l_model.engine.trainer import build_model

    data = load_training_set(WorkFolder(workdir).trainset.root)
    model = build_model(data, load_preset("fast"))
    choose = retrieval_choice(data.speech, data.train_frames, data.fps)
    return {
        "FROZEN-C2O": ComposedPasteRenderer(data, model, video, frozen_choice(data.canonical_frame)),
        "RETRIEVAL-C2O": ComposedPasteRenderer(data, model, video, choose),
    }


def oracles(profile: SpeakerProfile, workdir: Path, video: Path) -> dict[str, object]:
    """``--oracles``: each held-out frame's *own* canonical lips (the training set's warp of the real frame)
    composed by the profile's model (learned depth, Blend-Net): what a perfect lip field would score, at
    full resolution and at the resolution the lip field trains at (its queries are upsampled from there)."""
    from s2l_model.dataset.trainset import load_training_set

    data = load_training_set(WorkFolder(workdir).trainset.root)
    model = profile.model.eval()
    own: Choose = lambda frames, speech: list(frames)  # noqa: E731
    return {
        "ORACLE lips": ComposedPasteRenderer(data, model, video, own),
        "ORACLE lips at training size": ComposedPasteRenderer(
            data, model, video, own, lips_size=model.field.train_size
        ),
        # where the composition softens: Blend-Net, and how C2O resamples the lip image (IMAGE_SAMPLING)
        "ORACLE lips, no Blend-Net": ComposedPasteRenderer(data, model, video, own, blend=False),
        "ORACLE lips, bilinear C2O": ComposedPasteRenderer(data, model, video, own, sampling="bilinear"),
        "ORACLE lips, bicubic C2O": ComposedPasteRenderer(data, model, video, own, sampling="bicubic"),
        "ORACLE lips, bicubic C2O, no Blend-Net": ComposedPasteRenderer(
            data, model, video, own, sampling="bicubic", blend=False
        ),
    }


class ComposedPasteRenderer:
    """Pastes a chosen canonical mouth image into each frame through s2l's C2O composition (with a fresh
    model: no Blend-Net, the mesh depth, how the baselines were rendered before issue 16; with a profile's
    model: its learned depth and Blend-Net). ``lips_size`` (w, h): the lips pass through that resolution
    first (area down, bilinear up); ``sampling``: how C2O resamples the lip image; ``blend``: False
    leaves Blend-Net out; ``residual_sigma``: Blend-Net's low-pass for this renderer, px (None: the
    model's own). Subclasses change where the lips come from (``canonical_lips``)."""

    def __init__(
        self,
        data,
        model,
        video: Path,
        choose: Choose,
        lips_size: tuple[int, int] | None = None,
        sampling: str = IMAGE_SAMPLING,
        blend: bool = True,
        residual_sigma: float | None = None,
    ) -> None:
        self.data, self.model, self.video, self.choose = data, model, video, choose
        self.lips_size, self.sampling, self.blend = lips_size, sampling, blend
        self.residual_sigma = residual_sigma

    def canonical_lips(self, frames: list[int], speech: Speech) -> list[torch.Tensor]:
        """(1, 3, h, w) canonical lips in [0, 1] for each of ``frames``: the chosen training frames' own."""
        lips = self.data.lips
        return [
            torch.from_numpy(np.array(lips[s])).permute(2, 0, 1)[None].float() / 255
            for s in self.choose(frames, speech)
        ]

    def render_with_regions(
        self, frames: Sequence[int], speech: Speech
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        frames = list(frames)
        all_lips = self.canonical_lips(frames, speech)
        sources = iter_frames(
            self.video, start=seek_seconds(frames[0], self.data.fps), max_frames=len(frames)
        )
        blend = self.model.blend
        kept = blend.residual_sigma
        if self.residual_sigma is not None:
            blend.residual_sigma = self.residual_sigma
        try:
            yield from self._compose(frames, all_lips, sources)
        finally:
            blend.residual_sigma = kept

    def _compose(
        self, frames: list[int], all_lips: list[torch.Tensor], sources: Iterator[np.ndarray]
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        from s2l_model.models.speaker import put_back

        d, model = self.data, self.model
        cw, ch = d.crop_size
        with torch.no_grad():
            for k, src in enumerate(sources):
                f = frames[k]
                if not d.usable[f]:
                    yield src, np.zeros(src.shape[:2], bool)
                    continue
                lips = all_lips[k]
                if self.lips_size is not None:
                    full = lips.shape[-2:]
                    small = F.interpolate(lips, size=self.lips_size[::-1], mode="area")
                    lips = F.interpolate(small, size=full, mode="bilinear", align_corners=False)
                x, y = (int(v) for v in d.origins[f])
                crop = torch.from_numpy(src[y : y + ch, x : x + cw]).permute(2, 0, 1)[None].float() / 255
                grid = model.crop_grid(
                    torch.from_numpy(d.rotations[f : f + 1]),
                    torch.from_numpy(d.translations[f : f + 1]),
                    torch.from_numpy(d.origins[f : f + 1].astype(np.int64)),
                )
                out = model.compose(lips, crop, grid, sampling=self.sampling, blend=self.blend)
                pixels = (out.output[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
                yield put_back(src, (x, y), pixels, out.blend_mask[0, 0].numpy() > 0)


def footage_landmarks(profile: SpeakerProfile, workdir: Path | None) -> tuple[np.ndarray, str]:
    """(N, 478, 3) float32 filtered landmarks of the footage, and where they came from."""
    if workdir is not None:
        path = WorkFolder(workdir).prep.landmarks
        return read_rows(path, 0, profile.n_frames).astype(np.float32), str(path)
    return profile.arrays["landmarks"].astype(np.float32), "the profile (float16)"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("profile", type=Path)
    parser.add_argument(
        "--workdir", type=Path, default=None, help="the build's --workdir (float32 landmarks; old baselines)"
    )
    parser.add_argument(
        "--video", type=Path, default=None, help="the footage (default: extracted from the profile)"
    )
    parser.add_argument(
        "--composed-baselines",
        action="store_true",
        help="also the old FROZEN-C2O / RETRIEVAL-C2O through s2l's composition (needs --workdir)",
    )
    parser.add_argument(
        "--oracles",
        action="store_true",
        help="also each held-out frame's own canonical lips through the profile's composition, at full "
        "and at the lip field's training resolution: a perfect lip field's score (needs --workdir)",
    )
    parser.add_argument(
        "--mask",
        choices=sorted(PASTE_MASKS),
        default=MOUTH_MASK.name,
        help="the baselines' pasted hull: the lips (default) or lips + nose base + jaw",
    )
    parser.add_argument("--only", nargs="*", default=None, help="run only these methods")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if (args.composed_baselines or args.oracles) and args.workdir is None:
        parser.error("--composed-baselines and --oracles need --workdir (the training set's lips)")
    torch.set_num_threads(torch.get_num_threads())
    profile = SpeakerProfile.load(args.profile)
    fps = profile.fps
    config = EvaluateConfig(device="cpu", frame_lpips_samples=16)
    landmarks, landmarks_from = footage_landmarks(profile, args.workdir)
    heldout = profile.heldout
    usable = profile.arrays["usable"].astype(bool)
    train = np.flatnonzero(usable & (np.arange(len(usable)) < heldout.start))
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="heldout-bench-") as tmp:
        video = args.video or profile.extract_footage(Path(tmp))
        windows = speech_windows(load_speech(video), fps, profile.n_frames)
        canonical = profile.manifest.canonical_frame
        mask = PASTE_MASKS[args.mask]
        nearest = retrieval_choice(windows, train, fps)
        renderers: dict[str, object] = {
            "s2l": ProfileRenderer(profile, video),
            # the renderer alone: each held-out frame from its own tracked mouth code (mouth-driven profiles)
            **(
                {"s2l true codes": ProfileRenderer(profile, video, true_codes=True)}
                if "mouth_codes" in profile.arrays
                else {}
            ),
            "FROZEN": DirectPasteRenderer(video, fps, landmarks, frozen_choice(canonical), mask),
            "RETRIEVAL": DirectPasteRenderer(video, fps, landmarks, nearest, mask),
        }
        if args.composed_baselines:
            renderers.update(composed_baselines(profile, args.workdir, video))
        if args.oracles:
            renderers.update(oracles(profile, args.workdir, video))
        if args.only:
            renderers = {k: v for k, v in renderers.items() if k in args.only}
        for name, inner in renderers.items():
            started = time.perf_counter()
            wrapped = MeasuredRegions(inner, video, fps, landmarks)
            work = Path(tmp) / name
            work.mkdir()
            evaluation = evaluate_heldout(video, heldout, wrapped, work, config=config)
            add_expert_scores(evaluation, profile, heldout)
            metrics = evaluation_metrics(evaluation)
            for column in ("psnr_mouth_square", "ssim_mouth_square", "cpbd_mouth_truth"):
                metrics[column] = round(evaluation.mean(column), 5)
            metrics["psnr_outside_blend"] = wrapped.psnr()
            metrics.update(wrapped.seam_metrics())
            errors = getattr(inner, "fit_errors", None)
            if errors:
                metrics["fit_error_px_median"] = round(float(np.median(errors)), 3)
            metrics["seconds"] = round(time.perf_counter() - started, 1)
            results[name] = metrics
            print(name, json.dumps(metrics), flush=True)
    columns = [
        ("psnr_mouth", "mouth PSNR dB ↑"), ("ssim_mouth", "mouth SSIM ↑"),
        ("psnr_mouth_square", "square-box PSNR dB ↑"), ("ssim_mouth_square", "square-box SSIM ↑"),
        ("lmd_px", "LMD px ↓"),
        ("sync/prediction/envelope", "sync envelope r ↑"), ("sync/prediction/phones", "sync phones d' ↑"),
        ("sync/prediction/expert", "sync expert cos ↑"), ("psnr_frame", "frame PSNR dB ↑"),
        ("psnr_outside_blend", "PSNR outside written region"),
        ("seam/median", "seam ratio median"), ("seam/max", "seam ratio max"),
        ("seam/within", "seam within 10 % (share)"),
    ]  # fmt: skip
    print(
        f"landmarks: {landmarks_from}; baselines' mask: {args.mask}; "
        f"held-out frames {heldout.start}-{heldout.stop - 1}"
    )
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
    first = next(iter(results.values()), {})
    truth = {k: v for k, v in first.items() if k.startswith("sync/truth")}
    print("truth sync:", truth)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "profile": str(args.profile),
            "landmarks": landmarks_from,
            "mask": args.mask,
            "machine": platform.platform(),
            "results": results,
        }
        args.json.write_text(json.dumps(payload, indent=2, default=str))


if __name__ == "__main__":
    main()
