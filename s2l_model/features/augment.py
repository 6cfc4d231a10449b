"""Speech augmentation for the mouth predictor: other voices should fall inside what it has seen.

One speaker's minute of speech covers one pitch range, one vocal tract, one speaking rate and one room.
Each kind below moves one of these (or several, as a real change of voice would):

- ``speed`` (amount: rate factor, e.g. 0.9 / 1.1): resampling, so rate, pitch and formants change together
  (a faster, higher, smaller-sounding voice). Output time = input time / rate.
- ``tempo`` (rate factor): WSOLA time stretch (``wsola_stretch``): speaking rate only, pitch and formants
  kept. Output time = input time / rate.
- ``pitch`` (semitones): librosa.effects.pitch_shift's recipe (stretch, then resample; duration kept), with
  WSOLA in place of its phase vocoder, so the spectral envelope moves with the harmonics (pitch and
  formants together, at the original rate).
- ``formant`` (frequency factor, e.g. 0.9 / 1.12): the vocal-tract length alone, pitch and duration kept:
  each STFT frame's spectral envelope (order-18 LPC, the all-pole model of the vocal tract) is warped
  along frequency by the factor and the frame re-weighted by the ratio of warped to original envelope,
  so the harmonics stay where they are and only their amplitudes follow the moved resonances
  (vocal-tract length perturbation). A cepstral envelope was tried first: too smooth to move a formant
  (a 700 Hz resonance moved 3 % for a 15 % warp).
- ``noise`` (SNR in dB): seeded pink noise at that ratio to the *speech's* power (the steps less than 30
  dB under its loud parts, as the silence gate counts speech), so pauses do not lower the SNR it reaches.

``Augmented.time_scale`` says how the timeline changed (output time = input time × time_scale), so the
caller resamples its per-frame targets. Output is float32 at the input's rate, scaled down only if it
would clip (the features are level-normalised per utterance, so gain carries no information).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from s2l_model.features.activity import BELOW_LOUD_DB, LOUD_PERCENTILE

KINDS = ("speed", "tempo", "pitch", "formant", "noise")
LPC_ORDER = 18  # all-pole envelope at 16 kHz: ~8 resonances, as a vocal tract has under 8 kHz


@dataclass(frozen=True)
class Augmented:
    samples: np.ndarray  # float32, at the input's sample rate
    time_scale: float  # output time = input time × time_scale


def augment_speech(
    samples: np.ndarray, sample_rate: int, kind: str, amount: float, seed: int = 0
) -> Augmented:
    """One augmented copy of ``samples`` (see the module's docstring for ``kind`` and ``amount``)."""
    x = np.asarray(samples, dtype=np.float32)
    if kind == "speed":
        _positive(kind, amount)
        import soxr

        # Played at ``amount`` times the rate: read as recorded at sr · amount, resampled to sr.
        out, scale = soxr.resample(x, sample_rate * amount, sample_rate, quality="HQ"), 1.0 / amount
    elif kind == "tempo":
        _positive(kind, amount)
        out, scale = wsola_stretch(x, amount), 1.0 / amount
    elif kind == "pitch":
        import soxr

        # Stretch to 2^(n/12) times the duration, then play it that much faster: pitch and formants move
        # by the factor, the duration comes back (librosa.effects.pitch_shift's recipe, with WSOLA).
        factor = 2 ** (amount / 12)
        stretched = wsola_stretch(x, 1.0 / factor)
        out = soxr.resample(stretched, sample_rate * factor, sample_rate, quality="HQ")[: len(x)]
        out = np.pad(out, (0, len(x) - len(out)))
        scale = 1.0
    elif kind == "formant":
        _positive(kind, amount)
        out, scale = _formant_warp(x, sample_rate, amount), 1.0
    elif kind == "noise":
        out, scale = x + _pink_noise(len(x), seed) * _noise_scale(x, sample_rate, amount), 1.0
    else:
        raise ValueError(f"unknown augmentation {kind!r}; known: {', '.join(KINDS)}")
    out = np.asarray(out, dtype=np.float32)
    peak = float(np.abs(out).max()) if len(out) else 0.0
    if peak > 1.0:
        out = out / np.float32(peak)
    return Augmented(out, float(scale))


def default_augmentations(seed: int = 0) -> list[tuple[str, float]]:
    """The five copies a build adds to the clean speech: one of each kind, amounts drawn per seed from
    ranges that cover typical differences between adult voices (±10 % rate, 2-4 semitones, ±6-14 %
    vocal-tract length, 10-25 dB SNR), each side of neutral with equal chance."""
    rng = np.random.default_rng(seed)

    def either(lo: float, hi: float) -> float:
        f = float(rng.uniform(lo, hi))
        return f if rng.random() < 0.5 else 1.0 / f

    return [
        ("speed", round(either(1.05, 1.12), 3)),
        ("tempo", round(either(1.08, 1.2), 3)),
        ("pitch", round(float(rng.choice([-1, 1]) * rng.uniform(2.0, 4.0)), 2)),
        ("formant", round(either(1.06, 1.14), 3)),
        ("noise", round(float(rng.uniform(10.0, 25.0)), 1)),
    ]


def wsola_stretch(
    x: np.ndarray, rate: float, frame: int = 512, hop: int = 256, search: int = 160
) -> np.ndarray:
    """Time stretch by waveform-similarity overlap-add (WSOLA): ``rate`` > 1 is faster (len / rate).

    Each output frame (Hann, 50 % overlap) is copied from near its nominal input position, shifted by up to
    ``search`` samples (10 ms) to the offset whose waveform best continues the previous frame, so pitch
    periods join in phase. Chosen over librosa's phase vocoder: measured on english_60s.wav, its
    phasiness kept the recogniser's phone on only half the steps at 8 % tempo change (bench/augment.py).
    """
    n_out = round(len(x) / rate)
    window = np.hanning(frame + 1)[:-1]  # periodic: overlaps at hop = frame / 2 sum to 1
    padded = np.pad(x.astype(np.float64), (frame + search, 2 * frame + search))
    out = np.zeros(n_out + 2 * frame)
    previous = 0  # input position (in padded) of the frame copied last
    for m in range(0, n_out // hop + 2):
        nominal = frame + search + round(m * hop * rate) - frame // 2  # centred on input m · hop · rate
        if m == 0:
            start = nominal
        else:
            natural = padded[previous + hop : previous + hop + frame]  # what would follow seamlessly
            region = padded[nominal - search : nominal + search + frame]
            score = np.correlate(region, natural * window, mode="valid")
            score -= 1e-12 * np.abs(np.arange(len(score)) - search)  # ties (silence): no shift
            start = nominal - search + int(np.argmax(score))
        out[m * hop : m * hop + frame] += padded[start : start + frame] * window
        previous = start
    # output frame m is centred on out[m · hop + frame / 2]: dropping half a frame puts it on m · hop
    return out[frame // 2 : frame // 2 + n_out].astype(np.float32)


def _positive(kind: str, amount: float) -> None:
    if not amount > 0:
        raise ValueError(f"{kind} needs a positive factor, not {amount}")


def _formant_warp(x: np.ndarray, sample_rate: int, factor: float) -> np.ndarray:
    import librosa

    n_fft, hop = 512, 128
    spectrum = librosa.stft(x, n_fft=n_fft, hop_length=hop)  # (bins, frames), centred, zero-padded
    # The same frames in time, for the all-pole (LPC) envelope; a faint seeded dither keeps silent frames
    # well-conditioned.
    padded = np.pad(x.astype(np.float64), n_fft // 2)
    padded += np.random.default_rng(0).standard_normal(len(padded)) * 1e-5
    frames = librosa.util.frame(padded, frame_length=n_fft, hop_length=hop)[:, : spectrum.shape[1]]
    coeffs = librosa.lpc(frames * np.hanning(n_fft)[:, None], order=LPC_ORDER, axis=0)
    envelope = -np.log(np.abs(np.fft.rfft(coeffs, n=n_fft, axis=0)) + 1e-9)  # log |1 / A(e^jw)|
    bins = np.arange(envelope.shape[0], dtype=np.float64)
    source = np.clip(bins / factor, 0, bins[-1])  # the warped envelope at f is the original at f / factor
    lo = np.floor(source).astype(np.int64)
    hi = np.minimum(lo + 1, len(bins) - 1)
    frac = (source - lo)[:, None]
    warped = (1 - frac) * envelope[lo] + frac * envelope[hi]
    out = librosa.istft(spectrum * np.exp(warped - envelope), hop_length=hop, n_fft=n_fft, length=len(x))
    return out.astype(np.float32)


def _pink_noise(n: int, seed: int) -> np.ndarray:
    """Seeded noise with a 1/f power spectrum, unit RMS."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spectrum), dtype=np.float64)
    f[0] = 1.0
    noise = np.fft.irfft(spectrum / np.sqrt(f), n=n)
    rms = float(np.sqrt(np.mean(noise**2))) if n else 1.0
    return (noise / max(rms, 1e-12)).astype(np.float32)


def speech_power(x: np.ndarray, sample_rate: int) -> float:
    """Mean power of the 20 ms steps less than 30 dB below the 95th percentile step level."""
    step = sample_rate // 50
    n = len(x) // step
    if n == 0:
        return float(np.mean(np.square(x, dtype=np.float64))) if len(x) else 0.0
    power = np.mean(np.square(x[: n * step], dtype=np.float64).reshape(n, step), axis=1)
    positive = power[power > 0]
    if not len(positive):
        return 0.0
    loud = np.percentile(positive, LOUD_PERCENTILE)
    return float(power[power > loud * 10 ** (-BELOW_LOUD_DB / 10)].mean())


def _noise_scale(x: np.ndarray, sample_rate: int, snr_db: float) -> np.float32:
    return np.float32(np.sqrt(speech_power(x, sample_rate) / 10 ** (snr_db / 10)))
