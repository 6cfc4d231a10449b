"""Preprocessing benchmark: decode + face mesh + head pose + filtering, frames/s and memory vs length.

    .venv/bin/python bench/preprocess.py [--long-minutes 4] [--json bench/out/preprocess.json]

Speed: `prepare_video` (tracking, filtering, canonical choice, depth, mouth box) on the dev clip
../shared/data/speakers/cnn_anchor_71s.mp4 (512x512, 25 fps) when present, and on the built-in sample
speaker. Memory: peak RSS of a fresh process preparing a 10 s and a long video made by looping the sample
speaker (the same face, so the work per frame is the same).
Also reports, on the sample speaker (a still head), landmark jitter before/after filtering and the lag of
the filtered lip opening against the raw one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from s2l_model.media import VideoWriter, iter_frames  # noqa: E402
from s2l_model.prepare.inspect import inspect  # noqa: E402
from s2l_model.prepare.pipeline import prepare_video  # noqa: E402
from s2l_model.prepare.workfolder import PrepFolder  # noqa: E402
from s2l_model.sample import SampleConfig, make_sample_speaker  # noqa: E402
from s2l_model.sample.face import TalkingHead, detect_landmarks, sample_face_image  # noqa: E402

DEV_CLIP = ROOT.parent / "shared" / "data" / "speakers" / "cnn_anchor_71s.mp4"


def timed_prepare(video: Path, workdir: Path) -> dict[str, float]:
    stage_times: dict[str, float] = {}  # time between progress calls, charged to the reporting stage
    last = [time.perf_counter()]

    def on_stage(name: str, done: int, total: int) -> None:
        now = time.perf_counter()
        stage_times[name] = stage_times.get(name, 0.0) + now - last[0]
        last[0] = now

    t0 = time.perf_counter()
    prepared = prepare_video(video, workdir, on_stage=on_stage)
    seconds = time.perf_counter() - t0
    n = prepared.tracks.n_frames
    checks = inspect(prepared, pictures=False)
    return {
        "frames": n,
        "seconds": round(seconds, 2),
        "fps": round(n / seconds, 1),
        "tracking_fps": round(n / stage_times.get("tracking", seconds), 1),
        "focal_over_size": prepared.tracks.camera.focal / max(prepared.width, prepared.height),
        "canonical_frame": prepared.canonical.frame,
        **{f"check_{k}": round(v, 4) for k, v in checks.to_dict().items()},
    }


def jitter_and_lag(workdir: Path) -> dict[str, float]:
    image = sample_face_image()
    lm0 = detect_landmarks(image)
    x0, y0, x1, _ = TalkingHead(image, lm0).roi
    still = np.flatnonzero(~((lm0[:468, 0] > x0 - 3) & (lm0[:468, 0] < x1 + 3) & (lm0[:468, 1] > y0 - 3)))
    raw = np.load(PrepFolder(workdir).landmarks_raw)
    filt = np.load(PrepFolder(workdir).landmarks)
    out: dict[str, float] = {"still_points": len(still)}
    for name, a in (("raw", raw), ("filtered", filt)):
        sd = a[:, still, :2].std(axis=0)
        out[f"jitter_{name}_mean_px"] = round(float(sd.mean()), 3)
        out[f"jitter_{name}_p95_px"] = round(float(np.percentile(sd, 95)), 3)
    g_raw, g_filt = raw[:, 14, 1] - raw[:, 13, 1], filt[:, 14, 1] - filt[:, 13, 1]
    a, b = g_filt - g_filt.mean(), g_raw - g_raw.mean()
    lags = list(range(-5, 6))
    out["lip_lag_frames"] = lags[int(np.argmax([np.sum(np.roll(a, k) * b) for k in lags]))]
    out["lip_range_kept"] = round(float(np.ptp(g_filt) / np.ptp(g_raw)), 3)
    return out


def make_long(sample_video: Path, path: Path, seconds: float) -> None:
    frames = list(iter_frames(sample_video))
    n = int(seconds * 25)
    with VideoWriter(
        path, fps=Fraction(25), size=(512, 512), codec="h264", preset="veryfast", n_frames=n
    ) as w:
        for k in range(n):
            cycle = len(frames) * 2 - 2  # ping-pong, no jump at the loop
            i = k % cycle
            w.write(frames[i if i < len(frames) else cycle - i])


def peak_rss_mb(video: Path, workdir: Path) -> dict[str, float]:
    code = (
        f"import resource, sys, time; sys.path.insert(0, {str(ROOT)!r}); "
        "from s2l_model.prepare.pipeline import prepare_video; t = time.perf_counter(); "
        f"p = prepare_video({str(video)!r}, {str(workdir)!r}); "
        "print(p.tracks.n_frames, time.perf_counter() - t, "
        "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    return {"frames": int(out[0]), "seconds": round(float(out[1]), 1), "peak_rss_mb": round(float(out[2]), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--long-minutes", type=float, default=4.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("GLOG_minloglevel", "2")
    results: dict[str, object] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sample = make_sample_speaker(folder, SampleConfig(seconds=8.0, seed=3)).video
        if DEV_CLIP.is_file():
            results["dev_clip"] = timed_prepare(DEV_CLIP, folder / "dev")
            print("dev clip", results["dev_clip"], flush=True)
        results["sample"] = timed_prepare(sample, folder / "sample")
        results["sample_tracking_quality"] = jitter_and_lag(folder / "sample")
        print("sample", results["sample"], results["sample_tracking_quality"], flush=True)
        short, long = folder / "short.mp4", folder / "long.mp4"
        make_long(sample, short, 10)
        make_long(sample, long, args.long_minutes * 60)
        results["memory_10s"] = peak_rss_mb(short, folder / "m_short")
        results["memory_long"] = peak_rss_mb(long, folder / "m_long")
        print("memory", results["memory_10s"], results["memory_long"], flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
