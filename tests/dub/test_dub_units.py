"""Units of `dub`: the background schedule, decoding in schedule order, streamed speech features and the
speech-activity gate. Checked against numbers that can be worked out by hand."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from s2l_model.dub.background import FootageFrames, Schedule, choose_loop, plan_schedule
from s2l_model.dub.speech import SpeechTrack
from s2l_model.errors import InputError
from s2l_model.features.activity import activity_weights, speech_activity
from s2l_model.features.speech import MelConfig, array_reader, speech_windows, windows_for_frames
from s2l_model.media import Speech, iter_frames, probe_video, seek_seconds, write_wav
from tests.conftest import pattern_frame

FPS = Fraction(25)


def frame_number(frame: np.ndarray) -> int:
    """The index a ``pattern_frame`` carries in its 12 bottom squares."""
    h = frame.shape[0]
    bits = [frame[h - 4, bit * 8 + 4, 0] > 127 for bit in range(12)]
    return sum(1 << k for k, on in enumerate(bits) if on)


# ------------------------------------------------------------------------------------------------ schedule


def test_schedule_loop_pingpong_hold_by_hand() -> None:
    loop = Schedule("loop", first=2, last=5, out_fps=FPS, footage_fps=FPS)
    assert loop.frames(0, 10).tolist() == [2, 3, 4, 5, 2, 3, 4, 5, 2, 3]
    pingpong = Schedule("pingpong", first=2, last=5, out_fps=FPS, footage_fps=FPS)
    assert pingpong.frames(0, 10).tolist() == [2, 3, 4, 5, 4, 3, 2, 3, 4, 5]
    assert pingpong.frames(7, 9).tolist() == [3, 4]  # any slice: the schedule is a pure function of k
    hold = Schedule("hold", first=3, last=3, out_fps=FPS, footage_fps=FPS)
    assert hold.frames(0, 4).tolist() == [3, 3, 3, 3]


def test_schedule_resamples_other_frame_rates_by_nearest_frame() -> None:
    # 50 fps output over 25 fps footage: each footage frame twice (k/2 rounded half up)
    s = Schedule("loop", first=0, last=100, out_fps=Fraction(50), footage_fps=FPS)
    assert s.frames(0, 6).tolist() == [0, 1, 1, 2, 2, 3]
    # 29.97 output over 25 fps footage: never more than one footage frame per output frame
    s = Schedule("loop", first=0, last=10_000, out_fps=Fraction(30000, 1001), footage_fps=FPS)
    steps = np.diff(s.frames(0, 3000))
    assert set(steps.tolist()) <= {0, 1}
    assert s.frames(2997, 2998)[0] == round(2997 * 25 * 1001 / 30000)


def test_plan_plays_through_when_the_footage_is_long_enough() -> None:
    usable = np.ones(100, bool)
    s = plan_schedule("loop", usable=usable, footage_fps=FPS, out_fps=FPS, n_out=30, start_frame=10)
    assert (s.first, s.last) == (10, 39)
    assert s.frames(0, 30).tolist() == list(range(10, 40))


def test_plan_stays_inside_the_tracked_run_and_checks_start() -> None:
    usable = np.ones(100, bool)
    usable[60:] = False
    s = plan_schedule("pingpong", usable=usable, footage_fps=FPS, out_fps=FPS, n_out=500, start_frame=10)
    assert (s.first, s.last) == (10, 59)
    assert s.frames(0, 500).max() == 59
    with pytest.raises(InputError, match="beyond the footage's end"):
        plan_schedule("loop", usable=usable, footage_fps=FPS, out_fps=FPS, n_out=5, start_frame=100)
    with pytest.raises(InputError, match="not tracked"):
        plan_schedule("loop", usable=usable, footage_fps=FPS, out_fps=FPS, n_out=5, start_frame=70)


def test_loop_end_is_where_the_footage_returns_to_its_start() -> None:
    # A periodic "footage" (period 40 frames) with a slow drift: the loop's period is two periods (80
    # frames), its cross-fade mixing frames 80 … into 0 … (59 looks like 0 too, but moves the other way);
    # through the cross-fade the mixed picture changes about as much as the footage's own steps.
    t = np.arange(100)
    thumbs = (np.sin(2 * np.pi * t / 40)[:, None, None] * 50 + 0.01 * t[:, None, None]) * np.ones((1, 4, 4))
    choice = choose_loop(thumbs, FPS)
    assert choice.end + 1 - choice.dissolve == 80 and choice.ratio <= 2
    usable = np.ones(100, bool)
    s = plan_schedule(
        "loop", usable=usable, footage_fps=FPS, out_fps=FPS, n_out=300, start_frame=0,
        thumbnails_of=lambda first, count: thumbs[first : first + count],
    )  # fmt: skip
    assert s.mode == "loop" and s.note is None and s.dissolve == choice.dissolve
    out, (second, weight) = s.frames(0, 300), s.mix(0, 300)
    shown = (1 - weight)[:, None, None] * thumbs[out] + weight[:, None, None] * thumbs[second]
    steps = np.abs(np.diff(shown, axis=0)).mean(axis=(1, 2))
    assert steps.max() <= 2 * choice.median


def test_loop_turns_back_when_the_footage_never_returns() -> None:
    # a steady pan (a brightness ramp) at 5 fps: the longest cross-fade (1 s = 5 frames) would still step
    # by about 45 / 6 median steps
    thumbs = np.arange(100, dtype=np.float64)[:, None, None] * np.ones((1, 4, 4))
    fps = Fraction(5)
    s = plan_schedule(
        "loop", usable=np.ones(100, bool), footage_fps=fps, out_fps=fps, n_out=300, start_frame=0,
        thumbnails_of=lambda first, count: thumbs[first : first + count],
    )  # fmt: skip
    assert s.mode == "pingpong" and s.note and "back and forth" in s.note
    assert np.abs(np.diff(s.frames(0, 300))).max() == 1  # never a jump


# ------------------------------------------------------------------------------------------------ decoding


@pytest.mark.parametrize("fps", [FPS, Fraction(30000, 1001)])
def test_footage_frames_follow_any_schedule_exactly(make_video, fps: Fraction) -> None:
    """Forward runs, backward runs (pingpong), repeats and wraps all hand out the right frame."""
    video = make_video(f"pattern_{fps.numerator}.mkv", 60, fps, size=(96, 64), codec="ffv1")
    info = probe_video(video)
    wanted = [0, 1, 2, 2, 3, 10, 11, 59, 58, 57, 30, 29, 28, 29, 30, 5, 5, 5, 40]
    frames = FootageFrames(video, fps, info, cache_bytes=5 * 96 * 64 * 3)  # backward chunks of 5 frames
    try:
        got = [
            frame_number(frames.get(i, wanted[k + 1] if k + 1 < len(wanted) else None))
            for k, i in enumerate(wanted)
        ]
    finally:
        frames.close()
    assert got == wanted


def test_seek_seconds_starts_at_the_frame_at_ntsc_rates(make_video) -> None:
    fps = Fraction(30000, 1001)
    video = make_video("ntsc.mkv", 40, fps, size=(96, 64), codec="ffv1")
    for k in (1, 7, 13, 29, 39):
        first = next(iter_frames(video, start=seek_seconds(k, fps), max_frames=1))
        assert frame_number(first) == k
    assert frame_number(pattern_frame(37, 96, 64)) == 37


# ------------------------------------------------------------------------------------------------ speech


def test_streamed_windows_equal_whole_signal_windows(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    samples = (0.1 * rng.standard_normal(16000 * 3)).astype(np.float32)
    fps = Fraction(30000, 1001)
    whole = speech_windows(Speech(samples, 16000), fps)
    for frames in (range(0, 10), range(37, 89), range(len(whole) - 5, len(whole))):
        part = windows_for_frames(array_reader(samples), fps, frames)
        np.testing.assert_allclose(part, whole[frames.start : frames.stop], rtol=1e-5, atol=1e-5)
    # and from a decoded file on disk
    wav = write_wav(tmp_path / "s.wav", Speech(samples, 16000))
    track = SpeechTrack.decode(wav, tmp_path)
    assert track.n_samples == len(samples)
    assert track.n_frames(fps) == round(3 * 30000 / 1001)
    on_disk = windows_for_frames(track.read, fps, range(37, 89), MelConfig())
    np.testing.assert_allclose(on_disk, whole[37:89], atol=2e-3)  # 16-bit WAV quantisation
    # what the renderer hears: the track's own frame count, or the footage's when given
    heard = track.heard(fps)
    assert heard.fps == fps and len(heard.activity) == track.n_frames(fps) and heard.n_samples == len(samples)
    assert heard.activity.max() == 0.0  # white noise is no speech to the gate (Silero VAD)
    assert len(track.heard(fps, 40).activity) == 40


def test_activity_is_zero_in_silence_one_in_speech_with_short_ramps() -> None:
    sr, fps = 16000, FPS
    t = np.arange(sr * 3) / sr
    samples = np.zeros_like(t, dtype=np.float32)
    speaking = (t >= 1.0) & (t < 2.0)
    samples[speaking] = (0.3 * np.sin(2 * np.pi * 220 * t[speaking])).astype(np.float32)
    weight = speech_activity(array_reader(samples), 75, fps, sr)
    assert weight[:20].max() == 0.0 and weight[60:].max() == 0.0  # silence: the mouth rests
    assert weight[27:48].min() == 1.0  # speech
    edge = np.flatnonzero((weight > 0) & (weight < 1))
    assert len(edge) <= 4  # ramps of 80 ms (2 frames) at each edge
    # the gate stays open 120 ms (3 frames) after the speech stops, not before it starts
    assert weight[50:52].min() > 0.0 and weight[24] < 1.0


def test_activity_of_digital_silence_and_of_continuous_speech() -> None:
    assert activity_weights(np.full(50, -np.inf, np.float32), FPS).max() == 0.0
    levels = np.random.default_rng(1).uniform(-30, -10, 200).astype(np.float32)  # never a pause
    assert activity_weights(levels, FPS).min() == 1.0
