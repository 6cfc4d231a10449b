"""What the speech augmentations do to the features the mouth predictor sees (issue 16).

    .venv/bin/python bench/augment.py [--speech ../shared/data/speech/english_60s.wav] [--seconds 20]

Per augmentation: (a) phoneme agreement: on the clean copy's recogniser steps (one run, level-normalised
input) whose argmax is a phone (not blank, not word boundary), the share where the augmented copy's argmax
at the same instant (mapped through ``time_scale``, ±1 step) is the same phone; (b) mel distance: mean
|augmented − clean| of the 20 ms log-mel at the same instants over the clean copy's loud steps, raw
(natural log, in units of the clean copy's std) and per-utterance normalised (``features/frames.py``,
already in std units).
"""

from __future__ import annotations

import argparse
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from s2l_model.features.augment import augment_speech, default_augmentations  # noqa: E402
from s2l_model.features.frames import (  # noqa: E402
    FeatureConfig,
    FrameFeatures,
    utterance_gain,
    utterance_stats,
)
from s2l_model.features.phonemes import N_LABELS, PhonemeRecognizer  # noqa: E402
from s2l_model.features.speech import array_reader  # noqa: E402
from s2l_model.media import load_speech  # noqa: E402

SR = 16000
FPS = Fraction(50)  # one "frame" per recogniser step


def features(x: np.ndarray, n_frames: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(phoneme probabilities, normalised mel) at the instants k/50 · scale, and the raw log-mel there."""
    ff = FrameFeatures(array_reader(x), len(x), FPS, FeatureConfig(window_steps=2))
    # frames of the augmented timeline nearest each clean instant
    times = np.round(np.arange(n_frames) * scale * 50).astype(int)
    w = ff.windows(range(0, int(times.max()) + 1))[times].mean(axis=1)  # steps ∓ 10 ms → the instant
    raw = w[:, N_LABELS:-1] * ff.stats.mel_std + ff.stats.mel_mean - 2 * np.log(ff.gain)
    return w, raw


def steps(x: np.ndarray) -> np.ndarray:
    """The recogniser's own steps (one run, ≤ 30 s) of the level-normalised speech."""
    gain = utterance_gain(utterance_stats(array_reader(x), len(x)).reference_db)
    return PhonemeRecognizer().posteriors(x * np.float32(gain))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--speech", default=str(ROOT.parent / "shared/data/speech/english_60s.wav"))
    parser.add_argument("--seconds", type=float, default=20.0)  # ≤ 24: one recogniser run per copy
    args = parser.parse_args()
    clean = load_speech(args.speech, max_seconds=args.seconds).samples
    n = len(clean) // 320
    labels = PhonemeRecognizer().labels
    c_w, c_raw = features(clean, n, 1.0)
    c_std = float(utterance_stats(array_reader(clean), len(clean)).mel_std)
    best = steps(clean)[:n].argmax(axis=1)
    phone = best < len(labels) - 2
    plan = [
        ("clean copy", 1.0),
        *default_augmentations(0),
        ("speed", 0.9),
        ("speed", 1.1),
        ("pitch", 3.0),
        ("pitch", -3.0),
        ("formant", 0.88),
        ("formant", 1.14),
        ("noise", 10.0),
        ("noise", 5.0),
    ]
    print(f"{args.speech}, first {args.seconds:g} s: {int(phone.sum())} phone steps")
    print("| augmentation | time_scale | phone argmax kept | raw log-mel dist (std) | normalised mel dist |")
    print("|---|---|---|---|---|")
    for kind, amount in plan:
        if kind == "clean copy":
            aug_x, scale = clean, 1.0
        else:
            a = augment_speech(clean, SR, kind, amount, seed=1)
            aug_x, scale = a.samples, a.time_scale
        a_w, a_raw = features(aug_x, n, scale)
        a_steps = steps(aug_x).argmax(axis=1)
        mapped = np.round(np.arange(n) * scale).astype(int)
        near = np.stack([a_steps[np.clip(mapped + s, 0, len(a_steps) - 1)] for s in (-1, 0, 1)])
        kept = (near == best).any(axis=0)[phone].mean()
        raw = np.abs(a_raw - c_raw)[c_w[:, -1] > -1.0].mean() / c_std
        norm = np.abs(a_w[:, N_LABELS:-1] - c_w[:, N_LABELS:-1])[c_w[:, -1] > -1.0].mean()
        print(f"| {kind} {amount:g} | {scale:.3f} | {kept:.3f} | {raw:.3f} | {norm:.3f} |")


if __name__ == "__main__":
    main()
