"""Subtitle re-voicing on real footage: are frames outside the events untouched, and do the lips inside
them follow the dub track rather than the original one? (issue 7's subtitle point on the dev speaker)

    .venv/bin/python bench/revoice.py PROFILE.prof VIDEO DUB_TRACK [--seconds 40] [--out bench/out/revoice]

Cuts the first ``--seconds`` of VIDEO (H.264 CRF 12, its own sound), writes an SRT with three events over
it, runs `s2l batch dub.srt --profile P --speech DUB_TRACK --video excerpt.mp4 -o dubbed.mkv` (FFV1:
lossless) in a child process, then measures with the face mesh: frames outside the events identical to the
excerpt, and, inside the events past the 0.2 s ramps, the Pearson correlation of the mouth opening with the
dub track's energy envelope and with the original track's (at offset 0, and the best within +-15 frames as
SyncNet searches). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from s2l_model.media import VideoWriter, iter_frames, load_speech, probe_video
from s2l_model.metrics.sync import MAX_OFFSET, offset_curve, speech_envelope
from s2l_model.tracking.refine import mouth_opening
from s2l_model.tracking.store import read_rows
from s2l_model.tracking.track import track_video

ROOT = Path(__file__).resolve().parents[1]
#: Three events over a 40 s excerpt (scaled to --seconds): a long and two medium lines, with gaps.
EVENT_FRACTIONS = [(0.05, 0.2375), (0.325, 0.525), (0.65, 0.875)]
RAMP_S = 0.2


def _stamp(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 10:
        return float("nan")
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("profile", type=Path)
    ap.add_argument("video", type=Path)
    ap.add_argument("dub", type=Path)
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "revoice")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    info = probe_video(args.video)
    assert info.video is not None
    fps = float(info.video.fps)
    n = min(info.video.n_frames, round(args.seconds * fps))
    excerpt = args.out / "excerpt.mp4"
    size = (info.video.width, info.video.height)
    sound = load_speech(args.video, max_seconds=n / fps)
    with VideoWriter(
        excerpt, fps=info.video.fps, size=size, codec="h264", crf=12, audio=sound, n_frames=n
    ) as w:
        for frame in iter_frames(args.video, max_frames=n):
            w.write(frame)
    events = [(round(a * n / fps, 2), round(b * n / fps, 2)) for a, b in EVENT_FRACTIONS]
    srt = args.out / "dub.srt"
    srt.write_text(
        "\n".join(f"{k}\n{_stamp(a)} --> {_stamp(b)}\nline {k}\n" for k, (a, b) in enumerate(events, 1))
    )
    out = args.out / "dubbed.mkv"
    command = [sys.executable, "-m", "s2l_cli", "batch", str(srt), "--profile", str(args.profile)]
    command += ["--speech", str(args.dub), "--video", str(excerpt), "-o", str(out), "--json"]
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(proc.stderr)

    t = np.arange(n) / fps
    inside = np.zeros(n, bool)
    core = np.zeros(n, bool)
    for a, b in events:
        inside |= (t >= a) & (t < b)
        core |= (t >= a + RAMP_S) & (t < b - RAMP_S)
    changed = np.array(
        [not np.array_equal(x, y) for x, y in zip(iter_frames(out), iter_frames(excerpt), strict=True)]
    )
    (args.out / "track").mkdir(exist_ok=True)
    track = track_video(out, args.out / "track")
    opening = mouth_opening(read_rows(track.landmarks_path, 0, track.n_frames))[:n]  # NaN where no face
    opening_in_events = np.where(core, opening, np.nan)
    result: dict[str, object] = {
        "profile": args.profile.name,
        "video": args.video.name,
        "dub": args.dub.name,
        "frames": n,
        "events_s": events,
        "revoice_wall_s": round(wall, 1),
        "changed_outside_events": int((changed & ~inside).sum()),
        "changed_inside_events": round(float(changed[inside].mean()), 3),
        "opening_std_in_events": round(float(np.nanstd(opening[core])), 4),
        "opening_std_source_outside": round(float(np.nanstd(opening[~inside])), 4),
    }
    for name, track_path in (("dub", args.dub), ("original", excerpt)):
        energy = speech_envelope(load_speech(track_path), fps, n)
        curve = offset_curve(opening_in_events, energy, _pearson, MAX_OFFSET)
        result[f"r_{name}"] = round(_pearson(opening_in_events, energy), 3)
        result[f"r_{name}_best"] = round(float(np.nanmax(curve)), 3)
        result[f"r_{name}_best_offset"] = int(np.nanargmax(curve)) - MAX_OFFSET
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
