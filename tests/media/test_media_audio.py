import numpy as np
import pytest
import soundfile as sf
import soxr

from s2l_model.errors import InputError
from s2l_model.media import estimate_offset, load_speech


def _rms_db(x: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def test_german_clip_24bit_48k_stereo(german_clip):
    ref, sr = sf.read(german_clip, dtype="float64")  # independent decoder: libsndfile
    assert sr == 48000 and ref.ndim == 2 and sf.info(german_clip).subtype == "PCM_24"
    expected = soxr.resample(ref.mean(axis=1), sr, 16000)
    speech = load_speech(german_clip)
    assert speech.sample_rate == 16000 and speech.samples.dtype == np.float32
    assert speech.duration == pytest.approx(len(ref) / sr, abs=1e-3)
    assert speech.rms_dbfs() == pytest.approx(_rms_db(expected), abs=0.1)
    n = min(len(expected), len(speech.samples))
    assert np.corrcoef(expected[:n], speech.samples[:n])[0, 1] > 0.999
    assert abs(estimate_offset(expected, speech.samples, 16000)) < 0.001


@pytest.mark.parametrize(
    ("subtype", "sr", "channels"),
    [("PCM_24", 48000, 2), ("PCM_16", 44100, 1), ("FLOAT", 22050, 2), ("PCM_U8", 8000, 1)],
)
def test_any_rate_depth_and_channels(tmp_path, subtype, sr, channels):
    t = np.arange(int(1.5 * sr)) / sr
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    data = np.stack([tone] * channels, axis=1) if channels > 1 else tone
    fmt = "WAV"
    path = tmp_path / f"tone_{subtype}_{sr}_{channels}.wav"
    sf.write(path, data, sr, subtype=subtype, format=fmt)
    speech = load_speech(path)
    assert speech.duration == pytest.approx(1.5, abs=2e-3)
    # A sine of amplitude 0.5 has an RMS of 0.5/sqrt(2): -9.03 dBFS (8-bit quantisation costs a little).
    assert speech.rms_dbfs() == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.15)


def test_compressed_speech_in_a_video_container(may_clip):
    speech = load_speech(may_clip)
    assert speech.duration == pytest.approx(5.0, abs=0.03)
    assert speech.rms_dbfs() > -40


def test_video_without_audio_is_refused(make_video):
    from fractions import Fraction

    with pytest.raises(InputError, match="no audio track"):
        load_speech(make_video("silent.mp4", 5, Fraction(25)))


def test_estimate_offset_finds_a_known_shift():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(16000)
    delayed = np.concatenate([np.zeros(80), x])[:16000]  # 5 ms late
    assert estimate_offset(x, delayed, 16000) == pytest.approx(0.005, abs=1e-4)
    assert estimate_offset(delayed, x, 16000) == pytest.approx(-0.005, abs=1e-4)
