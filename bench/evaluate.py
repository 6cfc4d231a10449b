"""Evaluation benchmark: speed of `s2l evaluate` per stage, and how well the sync measures separate.

    .venv/bin/python bench/evaluate.py [--frames 250] [--json bench/out/evaluate.json]

Speed: `evaluate_videos` of the first N frames of the dev clip ../shared/data/speakers/cnn_anchor_71s.mp4
(512x512, 25 fps) against a degraded copy of itself (Gaussian blur sigma 1.5, so no metric short-cuts on
identical frames), default settings on this machine's CPU, frames/s per stage.
Sync: on the whole dev clip, the profile-free scores with its own speech, the same speech 10 frames
late, and another speaker's speech (../shared/data/speech/english_60s.wav).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from s2l_model.evaluate import EvaluateConfig, evaluate_videos  # noqa: E402
from s2l_model.media import Speech, VideoWriter, iter_frames, load_speech, probe_video  # noqa: E402
from s2l_model.metrics.sync import envelope_sync, phone_sync  # noqa: E402
from s2l_model.tracking.refine import mouth_opening  # noqa: E402
from s2l_model.tracking.track import track_video  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
DEV_CLIP = DATA / "speakers" / "cnn_anchor_71s.mp4"
OTHER_SPEECH = DATA / "speech" / "english_60s.wav"


def speed(frames: int, workdir: Path) -> dict[str, object]:
    info = probe_video(DEV_CLIP)
    blurred = workdir / "blurred.mp4"
    size = (info.video.width, info.video.height)
    with VideoWriter(
        blurred, fps=info.video.fps, size=size, n_frames=frames, audio=load_speech(DEV_CLIP)
    ) as w:
        for frame in iter_frames(DEV_CLIP, max_frames=frames):
            w.write(cv2.GaussianBlur(frame, (0, 0), 1.5))
    seconds: dict[str, float] = defaultdict(float)
    last = {"stage": None, "t": time.perf_counter()}

    def on_stage(stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if last["stage"] is not None:
            seconds[last["stage"]] += now - last["t"]
        last["stage"], last["t"] = stage, now

    started = time.perf_counter()
    result = evaluate_videos(blurred, DEV_CLIP, config=EvaluateConfig(max_frames=frames), on_stage=on_stage)
    total = time.perf_counter() - started
    seconds[last["stage"]] += time.perf_counter() - last["t"]
    return {
        "frames": result.n_frames,
        "total_s": round(total, 2),
        "frames_per_s": round(result.n_frames / total, 2),
        "stage_s": {k: round(v, 2) for k, v in seconds.items()},
        "psnr_mouth": round(result.mean("psnr_mouth"), 3),
        "ssim_mouth": round(result.mean("ssim_mouth"), 4),
        "stlpips_mouth": round(result.mean("stlpips_mouth"), 4),
        "cpbd_mouth": [round(result.mean("cpbd_mouth"), 4), round(result.mean("cpbd_mouth_truth"), 4)],
        "lmd_px": round(result.mean("lmd_px"), 3),
    }


def sync_separation(workdir: Path) -> dict[str, dict[str, float]]:
    opening = mouth_opening(np.load(track_video(DEV_CLIP, workdir).landmarks_path))
    fps = float(probe_video(DEV_CLIP).video.fps)
    own = load_speech(DEV_CLIP)
    lag = round(10 * own.sample_rate / fps)
    late = Speech(
        np.concatenate([np.zeros(lag, np.float32), own.samples])[: len(own.samples)], own.sample_rate
    )
    out = {}
    for name, speech in (
        ("own speech", own),
        ("10 frames late", late),
        ("english_60s.wav", load_speech(OTHER_SPEECH)),
    ):
        for measure in (envelope_sync, phone_sync):
            score = measure(opening, speech, fps)
            out[f"{measure.__name__} / {name}"] = {
                "score": round(score.score, 3),
                "offset": score.offset,
                "confidence": round(score.confidence, 3),
            }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=250)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if not DEV_CLIP.is_file():
        sys.exit(f"dev clip not found: {DEV_CLIP}")
    with tempfile.TemporaryDirectory() as tmp:
        report = {
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, CPU",
            "speed": speed(args.frames, Path(tmp)),
            "sync": sync_separation(Path(tmp)),
        }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
