"""Round-trip accuracy on the dev clips: frames, duration and audio offset after decode + re-encode.

    .venv/bin/python bench/roundtrip.py

The same checks run as assertions in tests/media/test_media_roundtrip.py; this prints the measured values.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from s2l_model.media import estimate_offset, iter_frames, load_speech, probe_video, reencode  # noqa: E402

CLIPS = [ROOT.parent / "shared" / "data" / "speakers" / n for n in ("cnn_anchor_71s.mp4", "may_5s.mp4")]


def main() -> None:
    print("| clip | audio in | frames in → out (decoded) | duration in → out (s) | audio offset (ms) |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for clip in CLIPS:
            if not clip.is_file():
                print(f"| {clip.name} | missing: skipped | | | |")
                continue
            out = reencode(clip, Path(tmp) / clip.name, preset="veryfast")
            a, b = probe_video(clip), probe_video(out)
            decoded = sum(1 for _ in iter_frames(out))
            ref, new = load_speech(clip), load_speech(out)
            offset = estimate_offset(ref.samples, new.samples, ref.sample_rate, max_lag=0.25)
            audio = f"{a.audio[0].codec} {a.audio[0].sample_rate} Hz"
            print(
                f"| {clip.name} | {audio} | {a.video.n_frames} → {b.video.n_frames} ({decoded}) "
                f"| {a.video.duration:.3f} → {b.duration:.3f} | {offset * 1000:+.3f} |"
            )


if __name__ == "__main__":
    main()
