"""When are the lips closed for a bilabial, relative to the phoneme recogniser's bilabial spike (issue 16)?

    .venv/bin/python bench/closure_lag.py PROFILE.prof [SPEECH.wav ...] [--json OUT.json]

Two independent measurements of the same timing:

- **the profile's own footage** (tracked lips): hama's bilabial spikes in the footage's speech (local
  maxima of the summed bilabial posterior above 0.3), and for frame offsets from -240 to +120 ms around each
  spike, the mean tracked mouth opening and the share of frames closed (opening below the speaker's resting
  opening + 25 % of the way to its 90th-percentile opening, as ``bench/mouth_codes.py`` counts closed);
- **each English SPEECH** (no video): pocketsphinx's p/b/m frames (``metrics.phones``) and open-vowel
  frames, and which share of each a closure window finds: the frame counts as closing when the bilabial
  posterior exceeds 0.3 on some step of the window (steps of 20 ms relative to the frame). The window
  centred on the frame (-80 … +60 ms, the closure before the third session) against the steps after it
  (+20 … +140 ms, +0 … +160 ms).

These are figures of the recogniser and the speech, not of a profile's mouth stage: ``bench/mouth_codes.py``
measures what the stage then commands.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from s2l_model.features.phonemes import (  # noqa: E402
    STEP_RATE,
    PhonemeRecognizer,
    PosteriorStream,
    bilabial_labels,
)
from s2l_model.features.speech import array_reader  # noqa: E402
from s2l_model.geometry.mouthcode import code_opening  # noqa: E402
from s2l_model.media import Speech, load_speech  # noqa: E402
from s2l_model.metrics.phones import CLOSED, OPEN, lip_targets, recognise_phones  # noqa: E402
from s2l_model.profile.speaker import SpeakerProfile  # noqa: E402

SPIKE = 0.3
#: Closure windows, in 20 ms steps relative to the frame's own step (inclusive).
WINDOWS = {"centred -80…+60 ms": (-4, 3), "after +20…+140 ms": (1, 7), "after +0…+160 ms": (0, 8)}


def bilabial_posterior(speech: Speech, recognizer: PhonemeRecognizer) -> np.ndarray:
    """(steps,) the summed posterior of the recogniser's bilabial labels, 20 ms steps."""
    stream = PosteriorStream(array_reader(speech.samples), len(speech.samples), recognizer=recognizer)
    posteriors = stream.steps(0, stream.n_steps)
    return posteriors[:, bilabial_labels(list(recognizer.labels))].sum(axis=1)


def footage_lag(profile: SpeakerProfile, recognizer: PhonemeRecognizer) -> dict:
    stage = profile.model.mouth
    assert stage is not None, "a mouth-driven profile"
    basis = stage.basis()
    codes = np.asarray(profile.arrays["mouth_codes"], np.float32)
    usable = profile.arrays["usable"].astype(bool) & np.isfinite(codes).all(axis=1)
    opening = np.full(len(codes), np.nan)
    opening[usable] = code_opening(basis, codes[usable])
    rest = float(code_opening(basis, stage.rest.numpy()[None])[0])
    closed_below = rest + 0.25 * (float(np.nanpercentile(opening, 90)) - rest)
    with tempfile.TemporaryDirectory() as tmp:
        speech = load_speech(profile.extract_footage(Path(tmp)))
    b = bilabial_posterior(speech, recognizer)
    spikes = [s for s in range(1, len(b) - 1) if b[s] > SPIKE and b[s] >= b[s - 1] and b[s] >= b[s + 1]]
    fps = float(profile.fps)
    rows = {}
    for lag_ms in range(-240, 121, 40):
        frames = np.array([round((s / STEP_RATE + lag_ms / 1000) * fps) for s in spikes])
        frames = frames[(frames >= 0) & (frames < len(codes))]
        frames = frames[usable[frames]]
        rows[f"{lag_ms:+d} ms"] = {
            "mean_opening": float(opening[frames].mean()),
            "closed_share": float((opening[frames] < closed_below).mean()),
        }
    return {"spikes": len(spikes), "rest_opening": rest, "closed_below": closed_below, "by_lag": rows}


def speech_windows(speech: Speech, recognizer: PhonemeRecognizer, fps: float) -> dict:
    b = bilabial_posterior(speech, recognizer)
    n = int(len(speech.samples) / speech.sample_rate * fps)
    targets = lip_targets(recognise_phones(speech), fps, n)
    step_of = np.clip(np.round(np.arange(n) / fps * STEP_RATE).astype(int), 0, len(b) - 1)
    out = {"pbm_frames": int((targets == CLOSED).sum()), "open_frames": int((targets == OPEN).sum())}
    for name, (lo, hi) in WINDOWS.items():
        steps = np.clip(step_of[:, None] + np.arange(lo, hi + 1)[None], 0, len(b) - 1)
        closes = b[steps].max(axis=1) > SPIKE
        out[name] = {
            "pbm_found": float(closes[targets == CLOSED].mean()),
            "open_vowels_closed": float(closes[targets == OPEN].mean()),
            "all_frames_closed": float(closes.mean()),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("profile", type=Path)
    parser.add_argument("speech", type=Path, nargs="*")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    profile = SpeakerProfile.load(args.profile)
    recognizer = PhonemeRecognizer()
    results = {"footage": footage_lag(profile, recognizer)}
    print("footage: frames around hama's bilabial spikes", f"({results['footage']['spikes']} spikes)")
    for lag, row in results["footage"]["by_lag"].items():
        print(f"  {lag:>8s}  opening {row['mean_opening']:.3f}  closed {row['closed_share']:.2f}")
    for path in args.speech:
        row = speech_windows(load_speech(path), recognizer, float(profile.fps))
        results[path.name] = row
        print(f"{path.name}: {row['pbm_frames']} p/b/m frames, {row['open_frames']} open-vowel frames")
        for name in WINDOWS:
            r = row[name]
            print(
                f"  {name:20s} p/b/m found {r['pbm_found']:.2f}  open vowels closed "
                f"{r['open_vowels_closed']:.2f}  all frames {r['all_frames_closed']:.2f}"
            )
    if args.json:
        args.json.write_text(json.dumps({"profile": str(args.profile), **results}, indent=2))


if __name__ == "__main__":
    main()
