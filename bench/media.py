"""Media I/O benchmark: decode and encode frames/s at 512x512, and decode memory vs video length.

    .venv/bin/python bench/media.py [--long-minutes 10] [--json bench/out/media.json]

Decode/encode speeds use the dev clip ../shared/data/speakers/cnn_anchor_71s.mp4 when present, else the
built-in sample speaker. Peak memory is measured in a fresh process per video (this process and its
ffmpeg child, max RSS), for a 10-second and a 10-minute generated 512x512 video.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from s2l_model.media import VideoWriter, ffmpeg_exe, iter_frames, probe_video  # noqa: E402

DEV_CLIP = ROOT.parent / "shared" / "data" / "speakers" / "cnn_anchor_71s.mp4"


def decode_speed(path: Path) -> dict[str, float]:
    t0 = time.perf_counter()
    n = sum(1 for _ in iter_frames(path))
    dt = time.perf_counter() - t0
    return {"frames": n, "seconds": round(dt, 3), "fps": round(n / dt, 1)}


def encode_speed(frames: list, codec: str, preset: str, folder: Path, repeat: int) -> dict[str, float]:
    suffix = {"h264": ".mp4", "prores": ".mov", "ffv1": ".mkv"}[codec]
    n = len(frames) * repeat
    h, w = frames[0].shape[:2]
    t0 = time.perf_counter()
    with VideoWriter(
        folder / f"enc_{codec}_{preset}{suffix}",
        fps=Fraction(25),
        size=(w, h),
        codec=codec,
        preset=preset,
        n_frames=n,
    ) as writer:
        for _ in range(repeat):
            for f in frames:
                writer.write(f)
    dt = time.perf_counter() - t0
    return {"frames": n, "seconds": round(dt, 3), "fps": round(n / dt, 1)}


def make_long_video(path: Path, seconds: int) -> None:
    """A 512x512 25 fps test pattern (moving, noisy so it is not trivially compressible)."""
    subprocess.run(
        [
            ffmpeg_exe(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size=512x512:rate=25:duration={seconds}",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            str(path),
        ],
        check=True,
    )


PEAK_SCRIPT = """
import resource, sys
sys.path.insert(0, {root!r})
from s2l_model.media import iter_frames
n = 0
for frame in iter_frames({path!r}):
    n += 1
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(n, own, kids)
"""


def decode_peak_memory(path: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT.format(root=str(ROOT), path=str(path))],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    n, own_kb, kids_kb = int(out[0]), int(out[1]), int(out[2])
    return {
        "frames": n,
        "python_peak_mb": round(own_kb / 1024, 1),
        "ffmpeg_peak_mb": round(kids_kb / 1024, 1),
        "total_peak_mb": round((own_kb + kids_kb) / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long-minutes", type=float, default=10.0)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "out" / "media.json")
    args = parser.parse_args()
    results: dict[str, object] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "ffmpeg": ffmpeg_exe(),
    }
    with tempfile.TemporaryDirectory(prefix="s2l-bench-") as tmp:
        folder = Path(tmp)
        if DEV_CLIP.is_file():
            source = DEV_CLIP
        else:
            from s2l_model.sample import SampleConfig, make_sample_speaker

            source = make_sample_speaker(folder, SampleConfig(seconds=24.0)).video
        info = probe_video(source)
        results["source"] = (
            f"{source.name} {info.video.width}x{info.video.height} {info.video.n_frames} frames"
        )
        results["decode"] = decode_speed(source)
        frames = list(itertools.islice(iter_frames(source), 250))
        results["encode"] = {
            "h264_medium": encode_speed(frames, "h264", "medium", folder, 2),
            "h264_veryfast": encode_speed(frames, "h264", "veryfast", folder, 2),
            "prores": encode_speed(frames, "prores", "medium", folder, 1),
            "ffv1": encode_speed(frames, "ffv1", "medium", folder, 1),
        }
        short, long_ = folder / "short.mp4", folder / "long.mp4"
        make_long_video(short, 10)
        make_long_video(long_, int(args.long_minutes * 60))
        results["memory_10s"] = decode_peak_memory(short)
        results["memory_long"] = decode_peak_memory(long_)
        results["memory_long_minutes"] = args.long_minutes
        results["memory_difference_mb"] = round(
            results["memory_long"]["total_peak_mb"] - results["memory_10s"]["total_peak_mb"], 1
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
