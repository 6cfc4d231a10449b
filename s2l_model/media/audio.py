"""Speech loading: any container, codec, sample rate, channel count or bit depth → float32 mono.

ffmpeg decodes and resamples (its default resampler); channels are averaged here, so a stereo file
with the same signal on both channels keeps its level exactly.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from s2l_model.errors import InputError
from s2l_model.media.atomic import atomic_output
from s2l_model.media.ffmpeg import GLOBAL_ARGS, ffmpeg_exe, last_error_line
from s2l_model.media.probe import MediaInfo, probe

#: The sample rate of every speech signal inside s2l (features, sync expert, metrics).
SPEECH_SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class Speech:
    samples: np.ndarray  # float32, mono, nominally in [-1, 1]
    sample_rate: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate

    def rms_dbfs(self) -> float:
        """Level of the whole signal in dB relative to full scale (-inf for digital silence)."""
        rms = float(np.sqrt(np.mean(np.square(self.samples, dtype=np.float64)))) if len(self.samples) else 0.0
        return 20 * np.log10(rms) if rms > 0 else float("-inf")


def load_speech(
    path: str | os.PathLike[str],
    *,
    sample_rate: int = SPEECH_SAMPLE_RATE,
    stream: int = 0,
    max_seconds: float | None = None,
    info: MediaInfo | None = None,
) -> Speech:
    """Decode audio stream ``stream`` of ``path`` (audio file or video) to float32 mono at ``sample_rate``
    (``info``: the file's probe, if the caller has it)."""
    chunks = list(
        decode_speech(path, sample_rate=sample_rate, stream=stream, max_seconds=max_seconds, info=info)
    )
    return Speech(samples=np.concatenate(chunks), sample_rate=sample_rate)


def decode_speech(
    path: str | os.PathLike[str],
    *,
    sample_rate: int = SPEECH_SAMPLE_RATE,
    stream: int = 0,
    max_seconds: float | None = None,
    chunk_seconds: float = 10.0,
    info: MediaInfo | None = None,
) -> Iterator[np.ndarray]:
    """Decode audio stream ``stream`` of ``path`` as float32 mono chunks at ``sample_rate``, one chunk in
    memory at a time (hours of speech stream through). Raises ``InputError`` for a missing track, a decode
    failure or a track without samples."""
    info = info or probe(path)
    if not info.audio:
        raise InputError(f"no audio track in {info.path}")
    if stream >= len(info.audio):
        raise InputError(f"{info.path} has {len(info.audio)} audio track(s); track {stream} does not exist")
    channels = max(1, info.audio[stream].channels)
    cmd = [ffmpeg_exe(), *GLOBAL_ARGS, "-i", str(info.path), "-map", f"0:a:{stream}", "-vn"]
    if max_seconds is not None:
        cmd += ["-t", f"{max_seconds:.6f}"]
    cmd += ["-ac", str(channels), "-ar", str(sample_rate), "-f", "f32le", "-acodec", "pcm_f32le", "pipe:1"]
    chunk_bytes = 4 * channels * max(1, int(chunk_seconds * sample_rate))
    total = 0
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        assert proc.stdout is not None
        try:
            while raw := proc.stdout.read(chunk_bytes):
                data = np.frombuffer(raw[: len(raw) - len(raw) % (4 * channels)], dtype="<f4")
                data = data.reshape(-1, channels)
                if not len(data):
                    continue
                # Averaging the channels here (not ffmpeg's downmix) keeps a dual-mono file's level exactly.
                mono = data.mean(axis=1, dtype=np.float64) if channels > 1 else data[:, 0]
                total += len(mono)
                yield np.ascontiguousarray(mono, dtype=np.float32)
            if proc.wait() != 0:
                err.seek(0)
                msg = last_error_line(err.read().decode("utf-8", "replace"))
                raise InputError(f"cannot decode the audio of {info.path}: {msg}")
        finally:
            if proc.poll() is None:  # the consumer stopped early
                proc.kill()
            proc.stdout.close()
            proc.wait()
    if total == 0:
        raise InputError(f"the audio track of {info.path} holds no samples")


def write_wav(path: str | os.PathLike[str], speech: Speech, *, overwrite: bool = True) -> Path:
    """Write 16-bit PCM WAV atomically (clipped to [-1, 1])."""
    with atomic_output(path, overwrite=overwrite) as tmp:
        sf.write(tmp, np.clip(speech.samples, -1.0, 1.0), speech.sample_rate, subtype="PCM_16", format="WAV")
    return Path(path)


def estimate_offset(
    reference: np.ndarray, other: np.ndarray, sample_rate: int, *, max_lag: float = 0.5
) -> float:
    """Seconds by which ``other`` lags ``reference`` (positive: ``other`` is late), by cross-correlation.

    Uses the normalised cross-correlation over ±``max_lag`` with parabolic interpolation of the peak,
    so the result has sub-sample resolution.
    """
    from scipy.signal import correlate

    n = min(len(reference), len(other))
    if n == 0:
        raise ValueError("empty signal")
    a = reference[:n].astype(np.float64) - reference[:n].mean()
    b = other[:n].astype(np.float64) - other[:n].mean()
    corr = correlate(b, a, mode="full", method="fft")
    lags = np.arange(-n + 1, n)
    window = np.abs(lags) <= int(max_lag * sample_rate)
    corr, lags = corr[window], lags[window]
    k = int(np.argmax(corr))
    shift = 0.0
    if 0 < k < len(corr) - 1:
        y0, y1, y2 = corr[k - 1], corr[k], corr[k + 1]
        denom = y0 - 2 * y1 + y2
        shift = 0.5 * (y0 - y2) / denom if denom != 0 else 0.0
    return float((lags[k] + shift) / sample_rate)
