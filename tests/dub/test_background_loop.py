"""`--background loop` over footage with a hard cut: the wrap is a cross-fade whose length comes from the
footage (the jump spread over enough frames to stay within the footage's own steps), the first cycle plays
unmixed, later cycles mix the loop's tail over their start with a linear ramp; end to end, the output's
steps through each wrap stay within twice its median step, and outside the lips the output is exactly the
mix of the two footage frames."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from s2l_model.dub.background import (
    MAX_JUMP_RATIO,
    Schedule,
    choose_loop,
    dissolve_range,
    plan_schedule,
    thumbnails,
)
from s2l_model.media import Speech, VideoWriter, iter_frames, write_wav
from s2l_model.sample import SampleOutputs
from tests.support import run_s2l

FPS = Fraction(25)


def cut_thumbnails(n: int = 120, cut: int = 60, jump: float = 6.0) -> np.ndarray:
    """Grey "thumbnails" of footage with grain (a fresh noise field per frame) and a hard cut at ``cut``:
    every later frame is ``jump`` grey levels brighter, with another texture."""
    rng = np.random.default_rng(0)
    scene_a, scene_b = rng.uniform(80, 120, (2, 16, 16))
    grain = rng.normal(0.0, 1.0, (n, 16, 16))
    return np.where(np.arange(n)[:, None, None] < cut, scene_a, scene_b + jump) + grain


def test_a_hard_cut_gets_a_cross_fade_long_enough_to_hide_it() -> None:
    thumbs = cut_thumbnails()
    steps = np.abs(np.diff(thumbs, axis=0)).mean(axis=(1, 2))
    median = float(np.median(steps))
    choice = choose_loop(thumbs, FPS)
    plain_jump = np.abs(thumbs[choice.end] - thumbs[0]).mean()
    assert plain_jump > 5 * median  # a plain wrap would jump
    shortest, longest = dissolve_range(FPS, choice.end + 1)
    assert shortest <= choice.dissolve <= longest and choice.ratio <= MAX_JUMP_RATIO
    # the dissolve is as short as hides the jump: one frame less would not
    s = plan_schedule(
        "loop", usable=np.ones(len(thumbs), bool), footage_fps=FPS, out_fps=FPS, n_out=400, start_frame=0,
        thumbnails_of=lambda first, count: thumbs[first : first + count],
    )  # fmt: skip
    assert s.mode == "loop" and s.note is None and s.dissolve == choice.dissolve
    w, period = s.dissolve, s.period
    assert period == choice.end + 1 - w and s.last == choice.end

    index, (second, weight) = s.frames(0, 400), s.mix(0, 400)
    assert index[:period].tolist() == list(range(period)) and not weight[:period].any()  # unmixed
    for wrap in s.wraps(400):  # every later cycle starts with the ramp
        assert index[wrap : wrap + w].tolist() == list(range(w))
        assert second[wrap : wrap + w].tolist() == list(range(period, period + w))
        np.testing.assert_allclose(weight[wrap : wrap + w], (w - np.arange(w)) / (w + 1), rtol=1e-6)
        assert weight[wrap + w] == 0 and second[wrap + w] == index[wrap + w] == w
    assert s.wraps(400).tolist() == list(range(period, 400, period))
    shown = (1 - weight)[:, None, None] * thumbs[index] + weight[:, None, None] * thumbs[second]
    out_steps = np.abs(np.diff(shown, axis=0)).mean(axis=(1, 2))
    wrap = period  # from the frame before the first cross-fade to the first frame after it
    assert out_steps[wrap - 1 : wrap + w].max() <= MAX_JUMP_RATIO * median

    # as short as hides the jump: a frame shorter, the same wrap steps further
    shorter = Schedule("loop", 0, choice.end, FPS, FPS, dissolve=w - 1)
    a, (b, c) = shorter.frames(0, 400), shorter.mix(0, 400)
    mixed = (1 - c)[:, None, None] * thumbs[a] + c[:, None, None] * thumbs[b]
    wrap = shorter.period
    assert (
        np.abs(np.diff(mixed, axis=0)).mean(axis=(1, 2))[wrap - 1 : wrap + w - 1].max()
        > MAX_JUMP_RATIO * median
    )


def test_other_modes_are_unmixed() -> None:
    for mode in ("pingpong", "hold"):
        s = Schedule(mode, 3, 40, FPS, FPS)
        index, (second, weight) = s.frames(0, 200), s.mix(0, 200)
        assert np.array_equal(index, second) and not weight.any()
    assert Schedule("pingpong", 3, 40, FPS, FPS).wraps(200).tolist() == [37, 74, 111, 148, 185]


@pytest.fixture(scope="module")
def cut_footage(sample_speaker: SampleOutputs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample speaker's first 100 frames with film grain, and a hard cut after frame 49 (brighter from
    there): lossless, so the output's pixels outside the lips can be checked exactly."""
    path = tmp_path_factory.mktemp("cut") / "cut.mkv"
    rng = np.random.default_rng(1)
    frames = list(iter_frames(sample_speaker.video, max_frames=100))
    with VideoWriter(path, fps=FPS, size=(512, 512), codec="ffv1", n_frames=len(frames)) as w:
        for k, frame in enumerate(frames):
            grain = rng.normal(0.0, 3.0, frame.shape) + (6.0 if k >= 50 else 0.0)
            w.write(np.clip(frame + grain, 0, 255).astype(np.uint8))
    return path


def test_dub_loops_cut_footage_with_a_cross_fade(
    tiny_profile: Path, cut_footage: Path, tmp_path: Path
) -> None:
    samples = (0.1 * np.random.default_rng(2).standard_normal(16000 * 9)).astype(np.float32)
    speech = write_wav(tmp_path / "s.wav", Speech(samples, 16000))
    out = tmp_path / "out.mkv"
    proc = run_s2l(
        "dub", str(tiny_profile), str(speech), "-o", str(out), "--video", str(cut_footage),
        "--background", "loop", "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr + proc.stdout
    result = json.loads(proc.stdout.splitlines()[-1])
    n = result["frames"]
    assert result["background"] == "loop" and n == 225
    w, wraps = result["dissolve_frames"], result["wraps"]
    first, last = result["footage_frames"]
    assert first == 0 and 50 <= last <= 99 and w >= 1 and len(wraps) >= 1
    period = last + 1 - w
    assert wraps == list(range(period, n, period))

    # thumbnails of the output (the measure the loop was chosen by): each wrap's steps, from the frame
    # before its cross-fade to the first frame after it, stay within twice the output's median step
    thumbs = thumbnails(out, 0, n, FPS)
    steps = np.abs(np.diff(thumbs, axis=0)).mean(axis=(1, 2))
    median = float(np.median(steps))
    for wrap in wraps:
        assert steps[wrap - 1 : wrap + w].max() <= MAX_JUMP_RATIO * median, (wrap, steps[wrap - 1 : wrap + w])
    footage = list(iter_frames(cut_footage))
    plain = np.abs(thumbnails(cut_footage, last, 1, FPS)[0] - thumbnails(cut_footage, 0, 1, FPS)[0]).mean()
    assert plain > 3 * MAX_JUMP_RATIO * median  # a plain wrap would have jumped

    # outside the lower face every output pixel is the mix of the two footage frames
    schedule = Schedule("loop", first, last, FPS, FPS, dissolve=w)
    index, (second, weight) = schedule.frames(0, n), schedule.mix(0, n)
    for k, frame in enumerate(iter_frames(out)):
        a, b = footage[index[k]][:40].astype(np.float32), footage[second[k]][:40].astype(np.float32)
        expected = np.round(a + weight[k] * (b - a)).astype(np.uint8)
        assert np.array_equal(frame[:40], expected), k


def test_an_aligned_dissolve_is_made_long() -> None:
    """Where both ends of the longer dissolve are one shot in two framings, the glide is made as long as
    allowed (2 s, within a quarter of the loop); where either end is not, the dissolve stays as chosen."""
    thumbs = cut_thumbnails(n=400, cut=200)
    asked: list[tuple[int, int]] = []

    def plan(answer: bool) -> Schedule:
        def aligned(a: int, b: int) -> bool:
            asked.append((a, b))
            return answer

        return plan_schedule(
            "loop", usable=np.ones(400, bool), footage_fps=FPS, out_fps=FPS, n_out=1000, start_frame=0,
            thumbnails_of=lambda first, count: thumbs[first : first + count], aligned=aligned,
        )  # fmt: skip

    plain = plan(False)
    assert 0 < plain.dissolve < 50 and not plain.aligned
    asked.clear()
    long = plan(True)
    assert long.last == plain.last and long.dissolve == min(50, int(0.25 * (plain.last + 1)))
    assert long.aligned  # decided for every wrap: no frame of it flips between warped and plain
    w = long.dissolve
    assert asked == [(0, long.last + 1 - w), (w - 1, long.last)]  # the first and the last pair
