"""C2O's fixed-point solve: ``observed_to_canonical`` against the general back-project → rotate → project
chain it replaced (same fixed point), on 8 windows of 200×160 pixels with a depth map read by
``grid_sample``, one thread.

    .venv/bin/python bench/c2o.py

Prints the largest difference between the two (pixels) and each one's milliseconds per batch.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from s2l_model.geometry.camera import PinholeCamera
from s2l_model.geometry.crop import (
    Rect,
    canonical_to_observed,
    observed_to_canonical,
    pixel_centres,
    sample_image,
)
from s2l_model.geometry.pose import rotation_from_euler


def general_chain(pixels, depth_of, camera, rotation, translation, iterations=4):
    """The solve as it was written before: each step through the general camera functions."""
    guess = pixels
    for _ in range(iterations):
        _, observed_z = canonical_to_observed(guess, depth_of(guess), camera, rotation, translation)
        points = camera.backproject(pixels, observed_z) - translation[:, None, :]
        guess = camera.project(points @ rotation)
    return guess


def main() -> None:
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    camera = PinholeCamera(800.0, 255.5, 255.5)
    batch = 8
    angles = 0.3 * torch.rand(batch, 3, generator=g) - 0.15
    rotation = torch.stack([torch.from_numpy(rotation_from_euler(*a.tolist())).float() for a in angles])
    translation = 0.5 * torch.randn(batch, 3, generator=g)
    pixels = pixel_centres(Rect(150, 250, 200, 160), 200, 160).reshape(1, -1, 2).expand(batch, -1, -1)
    patch = Rect(100, 200, 300, 260)
    depth = 30 + torch.rand(1, 1, 260, 300, generator=g)

    def depth_of(p):
        return sample_image(depth, p, patch, padding="border")[:, 0]

    args = (pixels, depth_of, camera, rotation, translation)
    diff = (general_chain(*args) - observed_to_canonical(*args)).abs().max().item()
    print(f"largest difference: {diff:.2e} px")
    for name, solve in (("general chain", general_chain), ("observed_to_canonical", observed_to_canonical)):
        solve(*args)
        started = time.perf_counter()
        for _ in range(10):
            solve(*args)
        print(f"{name}: {(time.perf_counter() - started) * 100:.1f} ms per batch of {batch}")


if __name__ == "__main__":
    main()
