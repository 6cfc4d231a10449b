"""How well can a function of the mouth code alone draw the held-out lips? Least-squares fits, no training.

    .venv/bin/python bench/appearance_fit.py WORKDIR [--kernels 32,64,128,256] [--json OUT.json]

WORKDIR is the ``--workdir`` of an ``s2l profile build`` with a mouth-driven preset. On its training set's
canonical lip box (full resolution, the O2C-warped lips every build trains on), each row fits the training
frames' lips from their true mouth codes and draws the held-out 10 % from theirs: the mean image, a basis
linear in the code (the first session's renderer at step 0), quadratic, the average of the k nearest
training codes (a soft retrieval), and the renderer's kernel basis (``fields.lip.code_kernels``: k-means
centres, median-heuristic width, also at half that width). Reported: PSNR over the valid lip pixels and the
mean CPBD of the drawn lips (every 4th frame) against the real ones'. This bounds what the renderer's
least-squares start can reach, and shows what averaging does to sharpness.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from s2l_model.dataset.trainset import load_training_set  # noqa: E402
from s2l_model.fields.lip import code_kernels  # noqa: E402
from s2l_model.metrics.cpbd import cpbd  # noqa: E402
from s2l_model.prepare.workfolder import WorkFolder  # noqa: E402

RIDGE = 1e-3


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--kernels", default="32,64,128,256")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    data = load_training_set(WorkFolder(args.workdir).trainset.root)
    assert data.mouth is not None, "a training set with its mouth set"
    codes, rest = data.mouth.codes.astype(np.float64), data.mouth.rest.astype(np.float64)
    train = np.array([f for f in data.train_frames if data.usable[f] and np.isfinite(codes[f]).all()])
    held = np.array([f for f in data.heldout if data.usable[f] and np.isfinite(codes[f]).all()])
    h, w = data.lips.shape[1:3]
    y = np.asarray(data.lips[train], np.float32).reshape(len(train), -1) / 255.0
    y_held = np.asarray(data.lips[held], np.float32).reshape(len(held), -1) / 255.0
    valid = np.repeat(np.asarray(data.lip_valid[held]).reshape(len(held), -1, 1), 3, axis=2)
    valid = valid.reshape(len(held), -1).astype(np.float32)
    c, c_held = codes[train], codes[held]

    def psnr(drawn: np.ndarray) -> float:
        err = ((drawn - y_held) ** 2 * valid).sum(axis=1) / valid.sum(axis=1)
        return float(np.mean(10 * np.log10(1 / np.maximum(err, 1e-10))))

    def sharpness(drawn: np.ndarray) -> float:
        images = (np.clip(drawn[::4], 0, 1) * 255).astype(np.uint8).reshape(-1, h, w, 3)
        return float(np.mean([cpbd(image) for image in images]))

    def least_squares(features: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        f, f_held = features(c), features(c_held)
        gram = f.T @ f + RIDGE * len(f) * np.eye(f.shape[1])
        return f_held @ np.linalg.solve(gram, f.T @ y)

    def linear(x: np.ndarray) -> np.ndarray:
        return np.c_[np.ones(len(x)), x - rest]

    def quadratic(x: np.ndarray) -> np.ndarray:
        d = x - rest
        pairs = [d[:, i] * d[:, j] for i in range(d.shape[1]) for j in range(i, d.shape[1])]
        return np.c_[linear(x), np.stack(pairs, axis=1)]

    def kernel_features(centres: np.ndarray, width: float) -> Callable[[np.ndarray], np.ndarray]:
        def features(x: np.ndarray) -> np.ndarray:
            d2 = ((x[:, None] - centres[None]) ** 2).sum(-1)
            return np.c_[linear(x), np.exp(-d2 / (2 * width**2))]

        return features

    rows: dict[str, np.ndarray] = {"mean image": np.repeat(y.mean(0, keepdims=True), len(held), 0)}
    rows["linear in the code"] = least_squares(linear)
    rows["quadratic in the code"] = least_squares(quadratic)
    distances = ((c_held[:, None] - c[None]) ** 2).sum(-1)
    for k in (1, 16):
        rows[f"average of the {k} nearest training codes"] = y[np.argsort(distances, 1)[:, :k]].mean(1)
    for count in (int(n) for n in args.kernels.split(",")):
        centres, width = code_kernels(c, count)
        rows[f"{count} kernels, median width {width:.2f}"] = least_squares(kernel_features(centres, width))
        rows[f"{count} kernels, half width"] = least_squares(kernel_features(centres, width / 2))
    results = {"frames": {"train": len(train), "heldout": len(held)}, "truth_cpbd": sharpness(y_held)}
    print(f"held-out frames {len(held)}, training frames {len(train)}, lip box {w}x{h}")
    print("| fit | held-out lip PSNR dB | CPBD |")
    print("|---|---|---|")
    for name, drawn in rows.items():
        results[name] = {"psnr": psnr(drawn), "cpbd": sharpness(drawn)}
        print(f"| {name} | {results[name]['psnr']:.2f} | {results[name]['cpbd']:.3f} |", flush=True)
    print(f"| the real held-out lips | | {results['truth_cpbd']:.3f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
