"""Backward decoding of long-GOP footage (`FootageFrames`, `seek_points`): backward chunks begin at the
footage's keyframes, so each frame is decoded once per backward pass; a chunk larger than the memory budget
lives in a scratch file; every frame handed out equals the forward decode exactly."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from s2l_model.dub.background import FootageFrames, Schedule, seek_points
from s2l_model.media import ffmpeg_exe, iter_frames, probe_video
from tests.conftest import pattern_frame

FPS = Fraction(25)
SIZE = (96, 64)
GOP = 120


def long_gop(path: Path, n_frames: int, *, bframes: int = 3) -> Path:
    """H.264 with a keyframe every ``GOP`` frames exactly (no scene-cut keyframes) and B-frames."""
    w, h = SIZE
    cmd = [
        ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
        "-r", "25", "-i", "pipe:", "-c:v", "libx264", "-preset", "ultrafast", "-g", str(GOP),
        "-keyint_min", str(GOP), "-sc_threshold", "0", "-bf", str(bframes), "-pix_fmt", "yuv420p", str(path),
    ]  # fmt: skip
    frames = b"".join(pattern_frame(k, w, h).tobytes() for k in range(n_frames))
    subprocess.run(cmd, input=frames, check=True)
    return path


def backward_pass(frames: FootageFrames, first: int, last: int) -> list[np.ndarray]:
    """Frames last, last - 1, …, first, as a pingpong's way back asks for them."""
    order = np.arange(last, first - 1, -1)
    return [np.array(f) for f in frames.in_order(order)]


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_backward_chunks_start_at_keyframes_and_match_the_forward_decode(suffix: str, tmp_path: Path) -> None:
    video = long_gop(tmp_path / f"gop{suffix}", 300)
    info = probe_video(video)
    forward = list(iter_frames(video))
    assert len(forward) == 300
    points = seek_points(video, info, FPS)
    if suffix == ".mp4":  # seeks by presentation time: chunks start at the keyframes themselves
        assert points.starts.tolist() == [0, 120, 240]
        assert np.allclose(points.seconds, [0.0, 4.8, 9.6])
    else:  # Matroska with B-frames: ffmpeg seeks 3/23 s early; chunks start 4 frames past each keyframe
        assert points.starts.tolist() == [4, 124, 244]
    budget = 10 * SIZE[0] * SIZE[1] * 3  # memory for 10 frames: the GOPs go to scratch files
    frames = FootageFrames(video, FPS, info, cache_bytes=budget, scratch_dir=tmp_path)
    try:
        got = backward_pass(frames, 0, 299)
    finally:
        frames.close()
    assert all(np.array_equal(g, forward[k]) for g, k in zip(got, range(299, -1, -1), strict=True))
    starts = [lo for lo, _ in frames.chunks_opened]
    assert set(starts) <= set(points.starts.tolist()) | {0}
    # the chunks tile the pass: every frame decoded (and kept) once
    ends = [299] + [lo - 1 for lo in starts[:-1]]
    assert sum(e - lo + 1 for lo, e in zip(starts, ends, strict=True)) == 300
    assert not list(tmp_path.glob("s2l-chunk-*"))  # scratch files gone after close


def test_large_chunks_live_on_disk_not_in_memory(tmp_path: Path) -> None:
    video = long_gop(tmp_path / "gop.mp4", 200)
    info = probe_video(video)
    budget = 10 * SIZE[0] * SIZE[1] * 3
    frames = FootageFrames(video, FPS, info, cache_bytes=budget, scratch_dir=tmp_path)
    try:
        frames.get(199, 198)  # the chunk [120, 199]: 80 frames, over the budget of 10
        files = list(tmp_path.glob("s2l-chunk-*/chunk.u8"))
        assert len(files) == 1 and files[0].stat().st_size >= 80 * SIZE[0] * SIZE[1] * 3
        assert frames._chunk.base is not None or isinstance(frames._chunk, np.memmap)
        frames.get(119, 118)  # the next chunk replaces it
        assert len(list(tmp_path.glob("s2l-chunk-*/chunk.u8"))) == 1
    finally:
        frames.close()
    assert not list(tmp_path.glob("s2l-chunk-*"))


def test_short_gops_fill_the_memory_budget(make_video, tmp_path: Path) -> None:
    """All-intra footage (every frame a keyframe): chunks as long as the budget allows, in memory."""
    video = make_video("intra.mkv", 60, FPS, size=SIZE, codec="ffv1")
    info = probe_video(video)
    forward = list(iter_frames(video))
    frames = FootageFrames(video, FPS, info, cache_bytes=7 * SIZE[0] * SIZE[1] * 3, scratch_dir=tmp_path)
    try:
        got = backward_pass(frames, 10, 59)
    finally:
        frames.close()
    assert all(np.array_equal(g, forward[k]) for g, k in zip(got, range(59, 9, -1), strict=True))
    assert [lo for lo, _ in frames.chunks_opened][:3] == [53, 46, 39]  # 7 frames a chunk
    assert not list(tmp_path.glob("s2l-chunk-*"))


def test_a_pingpong_schedule_over_long_gop_footage(tmp_path: Path) -> None:
    video = long_gop(tmp_path / "gop.mp4", 260)
    info = probe_video(video)
    forward = list(iter_frames(video))
    schedule = Schedule("pingpong", first=30, last=250, out_fps=FPS, footage_fps=FPS)
    index = schedule.frames(0, 880)  # two periods: there and back twice
    frames = FootageFrames(video, FPS, info, cache_bytes=20 * SIZE[0] * SIZE[1] * 3, scratch_dir=tmp_path)
    try:
        got = [np.array(f) for f in frames.in_order(index)]
    finally:
        frames.close()
    assert all(np.array_equal(g, forward[k]) for g, k in zip(got, index, strict=True))
    # two backward runs (250 → 30), each opening one chunk per GOP it crosses
    assert [lo for lo, _ in frames.chunks_opened] == [240, 120, 0] * 2


def test_repeated_frames_and_loop_wraps_decode_without_extra_chunks(make_video, tmp_path: Path) -> None:
    """A 50 fps pingpong over 25 fps footage shows each frame twice on the way back too: one chunk per
    keyframe interval of the way back; a loop's wrap reopens the stream instead of decoding a chunk for
    the one frame before it."""
    video = long_gop(tmp_path / "gop.mp4", 200)
    info = probe_video(video)
    forward = list(iter_frames(video))
    budget = 40 * SIZE[0] * SIZE[1] * 3

    def decode(schedule: Schedule, n_out: int) -> list[int]:
        """Decode the schedule's frames, check them against the forward decode; the chunks opened."""
        index = schedule.frames(0, n_out)
        frames = FootageFrames(video, FPS, info, cache_bytes=budget, scratch_dir=tmp_path)
        try:
            got = [np.array(f) for f in frames.in_order(index)]
        finally:
            frames.close()
        assert all(np.array_equal(g, forward[k]) for g, k in zip(got, index, strict=True))
        return [lo for lo, _ in frames.chunks_opened]

    pingpong = Schedule("pingpong", first=0, last=150, out_fps=Fraction(50), footage_fps=FPS)
    assert decode(pingpong, 600) == [120, 0]  # there and back
    loop = Schedule("loop", first=0, last=150, out_fps=FPS, footage_fps=FPS, dissolve=10)
    assert decode(loop, 400) == []
