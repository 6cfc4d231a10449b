"""Speech windows line up with video frames at any frame rate."""

from fractions import Fraction

import numpy as np
import pytest

from s2l_model.features import MelConfig, frame_centres, speech_windows
from s2l_model.media import Speech

SR = 16000


def clicks_at_frames(frames: list[int], fps: Fraction, seconds: float) -> Speech:
    """Silence with a short 2 kHz tone burst centred exactly at each given frame's timestamp."""
    x = np.zeros(int(seconds * SR), np.float32)
    burst = np.sin(2 * np.pi * 2000 * np.arange(-40, 41) / SR) * np.hanning(81)
    for k in frames:
        c = round(k * SR * fps.denominator / fps.numerator)
        x[c - 40 : c + 41] += burst.astype(np.float32)
    return Speech(x, SR)


@pytest.mark.parametrize("fps", [Fraction(25), Fraction(30000, 1001), Fraction(24000, 1001), Fraction(50)])
def test_window_centre_is_the_frame_time(fps):
    config = MelConfig()
    centres = frame_centres(400, fps, config)
    middle = centres[:, config.window_frames // 2 - 1 : config.window_frames // 2 + 1].mean(axis=1)
    exact = np.arange(400) * SR * fps.denominator / fps.numerator
    assert np.abs(middle - exact).max() <= 0.5 + 1e-9  # rounding to the nearest sample only
    # 29.97 fps is not 30 fps: after 400 frames they are 13.3 ms apart, and we follow the true rate
    assert np.diff(centres[:, 0]).mean() == pytest.approx(SR * fps.denominator / fps.numerator, abs=0.01)


@pytest.mark.parametrize("fps", [Fraction(25), Fraction(30000, 1001)])
def test_a_click_at_frame_k_sits_in_the_middle_of_window_k(fps):
    frames = [10, 57, 133, 250]
    speech = clicks_at_frames(frames, fps, 12.0)
    windows = speech_windows(speech, fps)
    assert windows.shape == (round(12.0 * fps), 16, 80)
    for k in frames:
        energy = windows[k].max(axis=1)  # loudest band per mel frame of the window
        peak = np.sort(np.argsort(energy)[-2:])  # the two mel frames nearest the click
        assert peak.tolist() == [7, 8], f"frame {k}: click seen at {peak.tolist()}"
        assert energy[7] == pytest.approx(energy[8], abs=0.5)  # symmetric around the centre


def test_silence_is_the_floor_and_edges_are_padded_with_silence():
    speech = Speech(np.zeros(SR, np.float32), SR)
    windows = speech_windows(speech, Fraction(25))
    assert windows.shape == (25, 16, 80)
    np.testing.assert_allclose(windows, np.log(1e-5), rtol=1e-6)


def test_more_frames_than_speech_is_silence_not_an_error():
    speech = clicks_at_frames([5], Fraction(25), 1.0)
    windows = speech_windows(speech, Fraction(25), n_frames=40)
    assert windows.shape[0] == 40 and np.allclose(windows[-1], np.log(1e-5))


def test_wrong_sample_rate_is_refused():
    with pytest.raises(ValueError, match="16000"):
        speech_windows(Speech(np.zeros(8000, np.float32), 8000), Fraction(25))
