"""What a profile's mouth stage commands, before any rendering: held-out and cross-speaker figures.

    .venv/bin/python bench/mouth_codes.py PROFILE.prof [SPEECH ...] [--json OUT.json]

From the profile alone (its footage, its stored true mouth codes, its mouth stage):

- **held-out**: the codes the stage predicts from the held-out frames' own speech (the profile's last 10 %,
  never trained on), gated and calibrated exactly as ``s2l dub`` drives the renderer, against the frames'
  tracked (true) codes: correlation of the decoded mouth opening, and the std ratio predicted / true;
- **each SPEECH** (another voice, other languages): the std of the commanded opening over the speaking
  frames against the std of the speaker's own opening in its footage (the issue asks 0.7-1.3×); for
  English, pocketsphinx phone sync d′ (open vowels vs p/b/m) at offset 0 and with the speech shifted by
  0.5 s; and the share of p/b/m frames on which the lips are closed — opening below the speaker's own
  resting opening + 25 % of the way to its 90th-percentile opening.

These are the mouth shapes the renderer is asked for (decoded from the codes by the profile's mouth basis);
``bench/heldout.py`` and the dub benches measure what the rendered video shows.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from s2l_model.features.frames import FrameFeatures  # noqa: E402
from s2l_model.features.speech import array_reader  # noqa: E402
from s2l_model.features.vad import silero_activity as speech_activity  # noqa: E402
from s2l_model.geometry.mouthcode import code_opening  # noqa: E402
from s2l_model.media import Speech, load_speech  # noqa: E402
from s2l_model.metrics.phones import CLOSED, lip_targets, recognise_phones  # noqa: E402
from s2l_model.metrics.sync import phone_sync  # noqa: E402
from s2l_model.profile.speaker import SpeakerProfile  # noqa: E402

SHIFT_S = 0.5


@torch.no_grad()
def commanded_codes(profile: SpeakerProfile, speech: Speech, fps: Fraction, amp: float = 1.0) -> np.ndarray:
    """(n_frames, K) the codes ``s2l dub`` hands the renderer for ``speech`` at ``fps``."""
    stage = profile.model.mouth
    assert stage is not None, "a mouth-driven profile"
    n = round(Fraction(len(speech.samples), speech.sample_rate) * fps)
    read = array_reader(speech.samples)
    features = FrameFeatures(read, len(speech.samples), fps, profile.model.config.speech_features())
    activity = speech_activity(read, n, fps, speech.sample_rate)
    out = []
    for lo in range(0, n, 256):
        hi = min(n, lo + 256)
        windows = torch.from_numpy(np.ascontiguousarray(features.windows(range(lo, hi))))
        out.append(stage.speak(windows, torch.from_numpy(activity[lo:hi]), amp).numpy())
    return np.concatenate(out)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("profile", type=Path)
    parser.add_argument("speech", type=Path, nargs="*")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    profile = SpeakerProfile.load(args.profile)
    fps = profile.fps
    stage = profile.model.mouth
    assert stage is not None
    basis = stage.basis()
    true_codes = np.asarray(profile.arrays["mouth_codes"], np.float32)
    usable = profile.arrays["usable"].astype(bool)
    true_open = np.where(usable, code_opening(basis, np.nan_to_num(true_codes)), np.nan)
    rest_open = float(code_opening(basis, stage.rest.numpy()[None])[0])
    p90 = float(np.nanpercentile(true_open, 90))
    closed_below = rest_open + 0.25 * (p90 - rest_open)
    own_std = float(np.nanstd(true_open))
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        footage = profile.extract_footage(Path(tmp))
        own = load_speech(footage)
    n = len(usable)
    commanded = commanded_codes(profile, own, fps)[:n]
    predicted = code_opening(basis, commanded)
    h = np.array([f for f in profile.manifest.split.heldout if usable[f]])
    results["heldout"] = {
        "frames": len(h),
        "opening_r": _corr(predicted[h], true_open[h]),
        "opening_std_ratio": float(np.std(predicted[h]) / np.std(true_open[h])),
        "code0_r": _corr(commanded[h, 0], true_codes[h, 0]),
    }
    print("heldout", json.dumps(results["heldout"]), flush=True)
    for path in args.speech:
        speech = load_speech(path)
        opening = code_opening(basis, commanded_codes(profile, speech, fps))
        activity = speech_activity(array_reader(speech.samples), len(opening), fps, speech.sample_rate)
        speaking = activity > 0.5
        row: dict[str, float | int | None] = {
            "frames": len(opening),
            "std_ratio": float(np.std(opening[speaking]) / own_std),
        }
        targets = lip_targets(recognise_phones(speech), float(fps), len(opening))
        row["phones_d"] = phone_sync(opening, speech, float(fps), targets=targets).score
        shift = round(SHIFT_S * float(fps))
        shifted = np.concatenate([np.full(shift, opening[0]), opening[:-shift]])
        row["phones_d_shifted_0.5s"] = phone_sync(shifted, speech, float(fps), targets=targets).score
        closed = targets == CLOSED
        row["closed_frames"] = int(closed.sum())
        row["closed_share"] = float((opening[closed] < closed_below).mean()) if closed.any() else None
        results[path.name] = row
        print(path.name, json.dumps(row), flush=True)
    summary = {"own_opening_std": own_std, "rest_opening": rest_open, "closed_below": closed_below}
    print("speaker", json.dumps(summary))
    if args.json:
        args.json.write_text(
            json.dumps({"profile": str(args.profile), "speaker": summary, **results}, indent=2)
        )


if __name__ == "__main__":
    main()
