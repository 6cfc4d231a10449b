"""How much of the held-out lips' appearance a mouth code can say: the ceiling of a code-driven renderer.

    .venv/bin/python bench/code_appearance.py WORKDIR [--components 8 16 32] [--json FILE]

Reads a build's training set (``--workdir`` of ``s2l profile build``): the canonical lip images of every
frame (the O2C warp of the real frame, full resolution) and the tracked head-space mouth points. For the
held-out frames it predicts the lips from the frames' *true* landmark codes (PCA of the training frames'
mouth points, K components) in two simple ways, fitted on the training frames only:

- linear: least squares from the K-vector (plus a constant) to every pixel;
- nearest: the kernel-weighted mean of the 16 training frames nearest in code space;

and, as references, the training frames' mean image and each held-out frame's *next* frame (40 ms of real
motion plus tracking jitter), and the nearest-16 mean with the best integer shift within ±2 px per frame (how
much of the error is registration). PSNR over the whole lip box (the shift row: the box less 4 px a side).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from s2l_model.dataset.trainset import load_training_set  # noqa: E402
from s2l_model.prepare.workfolder import WorkFolder  # noqa: E402

NEAREST = 16
SHIFT = 2


def psnr(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((pred - truth) ** 2)))


def nearest_mean(z_train: np.ndarray, z_test: np.ndarray, images: np.ndarray) -> np.ndarray:
    """Kernel-weighted mean of the ``NEAREST`` training images nearest each test code."""
    dist = ((z_test[:, None] - z_train[None]) ** 2).sum(-1)
    order = np.argsort(dist, axis=1)[:, :NEAREST]
    near = np.take_along_axis(dist, order, 1)
    weights = np.exp(-(near - near[:, :1]) / (2 * np.median(near[:, -1]) + 1e-9))
    weights /= weights.sum(1, keepdims=True)
    return np.einsum("tk,tk...->t...", weights, images[order])


def best_shift_psnr(pred: np.ndarray, truth: np.ndarray) -> float:
    m = SHIFT + 2
    h, w = truth.shape[1:3]
    inner = truth[:, m : h - m, m : w - m]
    errors = [
        min(
            float(np.mean((p[m + dy : h - m + dy, m + dx : w - m + dx] - t) ** 2))
            for dy in range(-SHIFT, SHIFT + 1)
            for dx in range(-SHIFT, SHIFT + 1)
        )
        for p, t in zip(pred, inner, strict=True)
    ]
    return float(10 * np.log10(1.0 / np.mean(errors)))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--components", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    data = load_training_set(WorkFolder(args.workdir).trainset.root)
    points = data.mouth.points.reshape(len(data.mouth.points), -1)
    ok = data.usable & np.isfinite(points).all(1)
    train = np.array([f for f in data.train_frames if ok[f]])
    test = np.array([f for f in data.heldout if ok[f]])
    lips = np.asarray(data.lips, np.float32) / 255
    flat = lips.reshape(len(lips), -1)
    truth = flat[test]
    mean = points[train].mean(0)
    _, scales, axes = np.linalg.svd(points[train] - mean, full_matrices=False)
    results: dict[str, float] = {"mean image": psnr(flat[train].mean(0), truth)}
    for k in args.components:
        codes = (points - mean) @ axes[:k].T / scales[:k]
        design = np.c_[codes[train], np.ones(len(train))]
        weights, *_ = np.linalg.lstsq(design, flat[train], rcond=None)
        results[f"linear, {k} components"] = psnr(np.c_[codes[test], np.ones(len(test))] @ weights, truth)
        near = nearest_mean(codes[train], codes[test], flat[train])
        results[f"nearest {NEAREST}, {k} components"] = psnr(near, truth)
        if k == args.components[0]:
            shaped = near.reshape(len(test), *lips.shape[1:])
            m = SHIFT + 2
            results[f"nearest {NEAREST}, {k} components, inner box"] = psnr(
                shaped[:, m:-m, m:-m], lips[test][:, m:-m, m:-m]
            )
            results[f"nearest {NEAREST}, {k} components, inner box, best shift ±{SHIFT} px"] = (
                best_shift_psnr(shaped, lips[test])
            )
    following = [f for f in test if f + 1 < len(lips) and ok[f + 1]]
    results["the next frame"] = psnr(flat[np.array(following) + 1], flat[np.array(following)])
    print(
        f"{len(train)} training frames, {len(test)} held-out frames, lip box {lips.shape[2]}x{lips.shape[1]}"
    )
    for name, value in results.items():
        print(f"{name}: {value:.2f} dB")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
