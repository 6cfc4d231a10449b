"""A backward pass over long-GOP footage (pingpong's way back): keyframe-aligned chunks against the chunks
the dub used before (each opened `cache_bytes` before the frame asked for, so ffmpeg decoded and dropped
everything from the keyframe before it).

    .venv/bin/python bench/reverse_decode.py [--seconds 20] [--gop 120] [--size 1920x1080] [--json F]

The script makes a synthetic H.264 clip (a moving, textured picture; x264 veryfast, a keyframe every
--gop frames, B-frames on), then times, in this process, `FootageFrames.in_order` over its frames from
last to first (after) and the previous algorithm, rebuilt here from the same decoder calls (before), and
checks that both hand out the same frames as a forward decode (a checksum per frame).
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
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from s2l_model.dub.background import FootageFrames  # noqa: E402
from s2l_model.media import ffmpeg_exe, iter_frames, probe_video, seek_seconds  # noqa: E402
from s2l_model.media.atomic import write_json  # noqa: E402
from s2l_model.media.probe import MediaInfo  # noqa: E402

FPS = Fraction(25)
CACHE_BYTES = 128 * 2**20  # FootageFrames' default


def make_clip(path: Path, seconds: float, gop: int, width: int, height: int) -> None:
    n = round(seconds * FPS)
    cmd = [
        ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
        "-s", f"{width}x{height}", "-r", "25", "-i", "pipe:", "-c:v", "libx264", "-preset", "veryfast",
        "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0", "-pix_fmt", "yuv420p", str(path),
    ]  # fmt: skip
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (height // 8, width // 8 + n, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    for k in range(n):
        proc.stdin.write(np.ascontiguousarray(texture[:height, 8 * k : 8 * k + width]).tobytes())
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit("making the clip failed")


def before(video: Path, info: MediaInfo, order: np.ndarray) -> Iterator[np.ndarray]:
    """The backward chunks as FootageFrames made them before: ``chunk`` frames ending at the frame asked
    for, decoded from a seek to the chunk's first frame."""
    assert info.video is not None
    chunk = max(1, CACHE_BYTES // (3 * info.video.width * info.video.height))
    cache: dict[int, np.ndarray] = {}
    for index in order.tolist():
        if index not in cache:
            cache.clear()
            lo = max(0, index - chunk + 1)
            decoded = iter_frames(video, start=seek_seconds(lo, FPS), info=info, max_frames=index - lo + 1)
            for k, frame in zip(range(lo, index + 1), decoded, strict=True):
                cache[k] = frame
        yield cache[index]


def timed(frames: Iterator[np.ndarray]) -> tuple[float, list[int]]:
    t0 = time.perf_counter()
    sums = [int(f[::16, ::16].sum()) for f in frames]
    return time.perf_counter() - t0, sums


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--gop", type=int, default=120)
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "long_gop.mp4"
        make_clip(video, args.seconds, args.gop, width, height)
        info = probe_video(video)
        assert info.video is not None
        n = info.video.n_frames
        order = np.arange(n - 1, -1, -1)
        forward_s, forward = timed(iter_frames(video, info=info))
        old_s, old = timed(before(video, info, order))
        frames = FootageFrames(video, FPS, info, scratch_dir=Path(tmp))
        try:
            new_s, new = timed(frames.in_order(order))
            chunks = len(frames.chunks_opened)
        finally:
            frames.close()
    assert old == new == forward[::-1], "a backward pass handed out other frames than the forward decode"
    report = {
        "clip": f"{width}x{height}, {n} frames at 25 fps, H.264 veryfast, keyframe every {args.gop} frames",
        "forward_pass_s": round(forward_s, 2),
        "backward_before_s": round(old_s, 2),
        "backward_after_s": round(new_s, 2),
        "speedup": round(old_s / new_s, 2),
        "chunks_after": chunks,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "command": " ".join(sys.argv),
    }
    print(json.dumps(report))
    if args.json:
        write_json(args.json, report)


if __name__ == "__main__":
    main()
