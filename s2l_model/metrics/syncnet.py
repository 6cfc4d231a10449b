"""SyncNet lip-sync scores LSE-D and LSE-C (Chung & Zisserman, "Out of time", ACCV 2016 workshops).

These are the numbers Wav2Lip's evaluation reports: the public SyncNet ("syncnet_v2.model" of the
joonson/syncnet_python repository) embeds 0.2 s of speech and 5 face frames into 1024-d vectors;
the audio is slid against the video by -``vshift``..``vshift`` frames and

* **LSE-D** is the smallest mean embedding distance over those offsets (lower is better),
* **LSE-C** is the median of the mean distances minus that minimum (higher is better),
* the **AV offset** is the shift where the minimum lies.

This module is an independent re-implementation written from the published description: the
architecture (``SyncNet``, laid out so that the public state dict loads unchanged), the MFCC front
end of ``python_speech_features.mfcc`` with its default arguments (``syncnet_mfcc``) and the offset
search (``lse_scores``). **The figures were NOT checked against the original implementation**: the
public weights are not available here, so nothing asserts that a given video scores the same as
with syncnet_python. Everything that can be checked without them is (tests/test_syncnet.py).

Conventions the original relies on and that are reproduced here:

* Video at 25 fps, audio at 16 kHz mono, 4 MFCC frames (10 ms hop) per video frame. Faces given at
  another rate are first resampled in time to 25 fps by taking the nearest frame (output frame j shows
  source frame round(j · fps / 25)), as the original's pipeline re-encodes to 25 fps before scoring.
  Audio at another rate is resampled to 16 kHz.
* Network input for the faces: 5 consecutive 224×224 crops, **BGR** channel order (the original reads
  its frames with OpenCV), raw 0-255 values as float, no mean/std normalisation, layout
  [B, 3, 5, 224, 224]. ``lse_scores`` takes RGB and flips the channels.
* Network input for the speech: 13 MFCCs × 20 frames (0.2 s), layout [B, 1, 13, 20], computed from
  the samples on the int16 scale (the original reads a 16-bit PCM wav), unnormalised.
* Window i (i = 0, 1, …) pairs video frames i..i+4 with MFCC frames 4i..4i+19. With
  L = min(video frames, audio samples // 640) there are L - 5 windows (the original stops one window
  short of the last complete one; kept for identical numbers).
* Offset search: the audio embeddings are padded with ``vshift`` zero vectors on both sides; video
  window i is compared with audio window i + s for s = -vshift..vshift (Euclidean distance, torch's
  ``pairwise_distance`` with its 1e-6 eps), the distances are averaged over i per shift.
* **Sign of the AV offset** (``LseResult.offset_frames``) is the original's: offset = -s at the best
  shift s. A positive offset means the **audio leads** (the sound of video frame i is heard at frame
  i - offset, i.e. early); a negative offset means the audio lags (is delayed). Delaying the audio of a
  clip therefore lowers its offset, as reported for syncnet_python.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft
import scipy.signal
import torch
import torch.nn.functional as F
from torch import nn

from s2l_model.errors import InputError

SYNCNET_SAMPLE_RATE = 16_000
SYNCNET_FPS = 25.0
EMBEDDING_SIZE = 1024
FACE_SIZE = 224
CLIP_FRAMES = 5  # video frames per window
MFCC_PER_VIDEO_FRAME = 4  # 10 ms MFCC hop, 40 ms video frames
MFCC_WINDOW = 20  # MFCC frames per window: 0.2 s, the span of the 5 video frames
N_MFCC = 13
SAMPLES_PER_VIDEO_FRAME = SYNCNET_SAMPLE_RATE // int(SYNCNET_FPS)  # 640

# python_speech_features.mfcc defaults at 16 kHz.
_FRAME_LEN = 400  # 25 ms
_FRAME_STEP = 160  # 10 ms
_N_FFT = 512
_N_FILTERS = 26
_PREEMPHASIS = 0.97
_CEP_LIFTER = 22
_EPS = float(np.finfo(np.float64).eps)  # its floor for zero energies before the log

_MEDIAN_KERNEL = 9  # the original median-filters the per-frame confidence with this kernel

# ----------------------------------------------------------------------------------------------
# Architecture
# ----------------------------------------------------------------------------------------------

# One stage: conv (out channels, kernel, stride, padding) → batch norm → ReLU → optional max-pool
# (kernel, stride, padding). Written as data so both trunks come from one builder; the module order
# (conv, bn, relu[, pool]) fixes the indices in the state-dict keys, e.g. "netcnnaud.4.weight".
_Triple = tuple[int, ...]
_Stage = tuple[int, _Triple, _Triple, _Triple, tuple[_Triple, _Triple, _Triple] | None]

_AUDIO_STAGES: tuple[_Stage, ...] = (
    # The published net has a 1×1, stride-1 max-pool here: a no-op that still takes an index.
    (64, (3, 3), (1, 1), (1, 1), ((1, 1), (1, 1), (0, 0))),
    (192, (3, 3), (1, 1), (1, 1), ((3, 3), (1, 2), (0, 0))),
    (384, (3, 3), (1, 1), (1, 1), None),
    (256, (3, 3), (1, 1), (1, 1), None),
    (256, (3, 3), (1, 1), (1, 1), ((3, 3), (2, 2), (0, 0))),
    (512, (5, 4), (1, 1), (0, 0), None),  # 13×20 MFCC → 5×4 here → 1×1
)

_LIP_STAGES: tuple[_Stage, ...] = (
    (96, (5, 7, 7), (1, 2, 2), (0, 0, 0), ((1, 3, 3), (1, 2, 2), (0, 0, 0))),  # fuses the 5 frames
    (256, (1, 5, 5), (1, 2, 2), (0, 1, 1), ((1, 3, 3), (1, 2, 2), (0, 1, 1))),
    (256, (1, 3, 3), (1, 1, 1), (0, 1, 1), None),
    (256, (1, 3, 3), (1, 1, 1), (0, 1, 1), None),
    (256, (1, 3, 3), (1, 1, 1), (0, 1, 1), ((1, 3, 3), (1, 2, 2), (0, 0, 0))),
    (512, (1, 6, 6), (1, 1, 1), (0, 0, 0), None),  # 224² → 6×6 here → 1×1
)


def _trunk(dims: int, in_channels: int, stages: Sequence[_Stage]) -> nn.Sequential:
    conv_cls = nn.Conv2d if dims == 2 else nn.Conv3d
    norm_cls = nn.BatchNorm2d if dims == 2 else nn.BatchNorm3d
    pool_cls = nn.MaxPool2d if dims == 2 else nn.MaxPool3d
    layers: list[nn.Module] = []
    channels = in_channels
    for out_channels, kernel, stride, padding, pool in stages:
        layers += [
            conv_cls(channels, out_channels, kernel_size=kernel, stride=stride, padding=padding),
            norm_cls(out_channels),
            nn.ReLU(inplace=True),
        ]
        if pool is not None:
            pool_kernel, pool_stride, pool_padding = pool
            layers.append(pool_cls(kernel_size=pool_kernel, stride=pool_stride, padding=pool_padding))
        channels = out_channels
    return nn.Sequential(*layers)


def _head(embedding_size: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(inplace=True), nn.Linear(512, embedding_size)
    )


class SyncNet(nn.Module):
    """The published SyncNet 'S' model: two streams mapping speech and mouth motion to 1024-d vectors.

    Audio: 13×20 MFCC patch, 6 conv stages (2-D) → 512 → FC 512 → FC 1024.
    Video: 5 BGR 224×224 frames (0-255), 6 conv stages (3-D; the first fuses time) → 512 → FC 512 →
    FC 1024. 13.6 M parameters. The attribute names ``netcnnaud``, ``netfcaud``, ``netcnnlip`` and
    ``netfclip`` and the layer order are those of the public state dict, so its file loads as is.
    """

    def __init__(self, embedding_size: int = EMBEDDING_SIZE) -> None:
        super().__init__()
        self.netcnnaud = _trunk(2, 1, _AUDIO_STAGES)
        self.netfcaud = _head(embedding_size)
        self.netcnnlip = _trunk(3, 3, _LIP_STAGES)
        self.netfclip = _head(embedding_size)

    def forward_audio(self, mfcc: torch.Tensor) -> torch.Tensor:
        """[B, 1, 13, 20] MFCC patches → [B, 1024] embeddings."""
        if mfcc.dim() != 4 or tuple(mfcc.shape[1:]) != (1, N_MFCC, MFCC_WINDOW):
            raise ValueError(f"SyncNet audio input must be [B, 1, 13, 20], got {list(mfcc.shape)}")
        return self.netfcaud(self.netcnnaud(mfcc).flatten(1))

    def forward_video(self, faces: torch.Tensor) -> torch.Tensor:
        """[B, 3, 5, 224, 224] BGR 0-255 face clips → [B, 1024] embeddings."""
        if faces.dim() != 5 or tuple(faces.shape[1:]) != (3, CLIP_FRAMES, FACE_SIZE, FACE_SIZE):
            raise ValueError(f"SyncNet video input must be [B, 3, 5, 224, 224], got {list(faces.shape)}")
        return self.netfclip(self.netcnnlip(faces).flatten(1))

    def forward(self, mfcc: torch.Tensor, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_audio(mfcc), self.forward_video(faces)


# Prefixes a saved state dict may carry: DataParallel's, and the attribute under which
# syncnet_python's SyncNetInstance holds the model (a file saved from the instance).
_KEY_PREFIXES = ("module.", "__S__.")


def load_syncnet(path: str | os.PathLike[str]) -> SyncNet:
    """A ``SyncNet`` with the weights of a state-dict file (e.g. the public syncnet_v2.model), in eval mode.

    The file is read with ``weights_only=True`` (no code runs). Keys may carry a "module." prefix.
    BatchNorm ``num_batches_tracked`` counters may be absent (older PyTorch did not save them; they
    do not affect inference). Any other missing or unexpected key, a shape mismatch, or a file that
    is not a state dict raises ``InputError``.
    """
    name = os.fspath(path)
    if not os.path.isfile(name):
        raise InputError(f"SyncNet weights not found: {name}")
    try:
        loaded = torch.load(name, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types here (UnpicklingError, RuntimeError, EOFError …)
        raise InputError(f"{name} is not a readable PyTorch weights file ({type(exc).__name__})") from exc
    if (
        not isinstance(loaded, dict)
        or not loaded
        or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in loaded.items())
    ):
        raise InputError(f"{name} is not a state dict (a mapping of names to tensors)")

    state: dict[str, torch.Tensor] = {}
    for key, value in loaded.items():
        for prefix in _KEY_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix) :]
        state[key] = value

    net = SyncNet()
    expected = net.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        raise InputError(f"{name} does not hold SyncNet weights: {'; '.join(parts)} keys")
    wrong = [k for k, v in state.items() if tuple(v.shape) != tuple(expected[k].shape)]
    if wrong:
        k = wrong[0]
        raise InputError(
            f"{name} does not hold SyncNet weights: {len(wrong)} tensor(s) of the wrong shape "
            f"(e.g. {k}: {list(state[k].shape)}, expected {list(expected[k].shape)})"
        )
    # strict=False only tolerates the absent num_batches_tracked counters; everything else was checked.
    net.load_state_dict(state, strict=False)
    return net.eval()


# ----------------------------------------------------------------------------------------------
# MFCC (python_speech_features.mfcc with its defaults, on the int16 scale)
# ----------------------------------------------------------------------------------------------


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def _mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


@lru_cache(maxsize=1)
def _mel_filterbank() -> np.ndarray:
    """(26, 257) triangular filters, 0 Hz - 8 kHz, edges on FFT bins floor((nfft + 1) · f / sr)."""
    mel_edges = np.linspace(_hz_to_mel(0.0), _hz_to_mel(SYNCNET_SAMPLE_RATE / 2), _N_FILTERS + 2)
    edges = np.floor((_N_FFT + 1) * _mel_to_hz(mel_edges) / SYNCNET_SAMPLE_RATE).astype(np.int64)
    bank = np.zeros((_N_FILTERS, _N_FFT // 2 + 1))
    for j in range(_N_FILTERS):
        lo, mid, hi = edges[j], edges[j + 1], edges[j + 2]
        # Rising edge covers bins lo..mid-1, falling edge mid..hi-1 (hi itself gets 0); an empty
        # side (equal edges, possible for the lowest filters) simply contributes nothing.
        rise = np.arange(lo, mid)
        bank[j, rise] = (rise - lo) / max(mid - lo, 1)
        fall = np.arange(mid, hi)
        bank[j, fall] = (hi - fall) / max(hi - mid, 1)
    bank.setflags(write=False)
    return bank


def _audio_16k_int16_scale(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono samples → float64 at 16 kHz on the int16 grid, as the original's 16-bit wav holds them."""
    x = np.asarray(samples)
    if x.ndim != 1:
        raise InputError(f"SyncNet needs mono audio (a 1-D array); got shape {x.shape}")
    if x.size == 0:
        raise InputError("SyncNet got no audio samples")
    if sample_rate <= 0:
        raise InputError(f"bad audio sample rate {sample_rate}")
    if x.dtype == np.int16:
        x = x.astype(np.float64) / 32768.0
    elif np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    else:
        raise InputError(f"SyncNet audio must be float (nominally in [-1, 1]) or int16, got {x.dtype}")
    if sample_rate != SYNCNET_SAMPLE_RATE:
        import soxr  # only needed for off-rate input

        x = soxr.resample(x, sample_rate, SYNCNET_SAMPLE_RATE)
    # Quantise like a 16-bit PCM file: the log energy is scale dependent (c0 = log of the frame energy),
    # so the int16 scale matters, and rounding gives exact zeros (→ the eps floor) where the file would.
    return np.clip(np.round(x * 32768.0), -32768.0, 32767.0)


def _mfcc_16k(x: np.ndarray) -> np.ndarray:
    """(n_frames, 13) float64 MFCCs of int16-scale samples at 16 kHz."""
    emphasised = np.empty_like(x)
    emphasised[0] = x[0]
    emphasised[1:] = x[1:] - _PREEMPHASIS * x[:-1]
    # Frames start every 160 samples; the last may run past the end and is zero-padded.
    n_frames = 1 if len(x) <= _FRAME_LEN else 1 + -(-(len(x) - _FRAME_LEN) // _FRAME_STEP)
    padded = np.zeros((n_frames - 1) * _FRAME_STEP + _FRAME_LEN)
    padded[: len(x)] = emphasised
    frames = np.lib.stride_tricks.sliding_window_view(padded, _FRAME_LEN)[::_FRAME_STEP]
    # Rectangular window (the library's default), zero-padded to 512 points.
    power = np.abs(np.fft.rfft(frames, n=_N_FFT, axis=1)) ** 2 / _N_FFT
    energy = power.sum(axis=1)
    energy = np.where(energy == 0.0, _EPS, energy)
    mel = power @ _mel_filterbank().T
    mel = np.where(mel == 0.0, _EPS, mel)
    cepstra = scipy.fft.dct(np.log(mel), type=2, axis=1, norm="ortho")[:, :N_MFCC]
    n = np.arange(N_MFCC)
    cepstra *= 1.0 + (_CEP_LIFTER / 2.0) * np.sin(np.pi * n / _CEP_LIFTER)
    cepstra[:, 0] = np.log(energy)  # appendEnergy: c0 becomes the log frame energy
    return cepstra


def syncnet_mfcc(samples: np.ndarray, sample_rate: int = SYNCNET_SAMPLE_RATE) -> np.ndarray:
    """(n_frames, 13) float32 MFCCs at 100 Hz, as SyncNet's audio stream expects them.

    ``samples``: mono, float nominally in [-1, 1] or int16; resampled to 16 kHz if needed. Frame k
    covers 16 kHz samples 160k .. 160k + 399; 1 s of audio gives 99 frames.
    """
    return _mfcc_16k(_audio_16k_int16_scale(samples, sample_rate)).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Scores
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LseResult:
    """SyncNet scores of one clip.

    ``lse_d``: mean embedding distance at the best offset (LSE-D, lower is better).
    ``lse_c``: median over offsets of the mean distance minus ``lse_d`` (LSE-C, higher is better).
    ``offset_frames``: AV offset in 25-fps frames, > 0 = audio leads, < 0 = audio lags (module doc).
    ``distances``: (2·vshift + 1,) mean distance per AV offset, ordered -vshift..vshift, so
    ``distances[offset_frames + vshift] == lse_d``. (The original's array is ordered by audio shift,
    i.e. reversed.)
    ``per_frame_confidence``: (n_windows,) median distance minus the window's distance at the best
    offset, median-filtered over 9 windows (the original's "framewise conf"); entry i belongs to the
    window of 25-fps frames i..i+4.
    """

    lse_d: float
    lse_c: float
    offset_frames: int
    distances: np.ndarray
    per_frame_confidence: np.ndarray


def _frame_index_25fps(n_frames: int, fps: float) -> np.ndarray:
    """Source frame shown at each 25-fps output frame (nearest in time); identity at 25 fps."""
    if abs(fps - SYNCNET_FPS) < 1e-6:
        return np.arange(n_frames)
    # Output frames whose instant j / 25 lies within the clip (n_frames / fps seconds).
    n_out = int(np.floor(n_frames * SYNCNET_FPS / fps + 1e-9))
    nearest = np.floor(np.arange(n_out) * fps / SYNCNET_FPS + 0.5).astype(np.int64)
    return np.minimum(nearest, n_frames - 1)


def _face_batch(faces: np.ndarray, frame_index: np.ndarray, starts: range) -> torch.Tensor:
    """[B, 3, 5, 224, 224] float BGR clips for the windows starting at ``starts`` (25-fps frames)."""
    clips = faces[np.stack([frame_index[s : s + CLIP_FRAMES] for s in starts])]  # B, 5, H, W, RGB
    clips = clips[..., ::-1].transpose(0, 4, 1, 2, 3)  # → BGR (the weights were trained on OpenCV frames)
    return torch.from_numpy(np.ascontiguousarray(clips)).float()


def _mfcc_batch(mfcc_t: np.ndarray, starts: range) -> torch.Tensor:
    """[B, 1, 13, 20] MFCC patches for the windows starting at ``starts`` (25-fps frames)."""
    patches = np.stack(
        [mfcc_t[:, MFCC_PER_VIDEO_FRAME * s : MFCC_PER_VIDEO_FRAME * s + MFCC_WINDOW] for s in starts]
    )
    return torch.from_numpy(patches[:, None].astype(np.float32))


def lse_scores(
    net: SyncNet,
    faces: np.ndarray,
    samples: np.ndarray,
    sample_rate: int,
    fps: float,
    *,
    vshift: int = 15,
    batch_size: int = 20,
    device: str = "cpu",
) -> LseResult:
    """LSE-D, LSE-C and the AV offset of face crops against speech (see the module docstring).

    ``faces``: uint8 (T, 224, 224, 3) RGB face crops at ``fps`` (resampled to 25 fps by nearest frame
    if different). ``samples``: mono speech (float in [-1, 1] or int16) at ``sample_rate``, starting
    with the first face frame. ``net`` must already be on ``device``; it is switched to eval mode.
    Needs at least 6 frames (0.24 s) of both video and audio at 25 fps: one 5-frame window, given the
    original's count of L - 5 windows.
    """
    faces = np.asarray(faces)
    if faces.ndim != 4 or faces.shape[1:] != (FACE_SIZE, FACE_SIZE, 3) or faces.dtype != np.uint8:
        raise InputError(
            f"SyncNet needs uint8 face crops of shape (T, 224, 224, 3); got {faces.dtype} {faces.shape}"
        )
    if not np.isfinite(fps) or fps <= 0:
        raise InputError(f"bad frame rate {fps}")
    if vshift < 0 or batch_size < 1:
        raise ValueError(f"vshift must be >= 0 and batch_size >= 1 (got {vshift}, {batch_size})")

    frame_index = _frame_index_25fps(len(faces), fps)
    audio = _audio_16k_int16_scale(samples, sample_rate)
    length = min(len(frame_index), len(audio) // SAMPLES_PER_VIDEO_FRAME)
    n_windows = length - CLIP_FRAMES
    if n_windows < 1:
        raise InputError(
            f"too short for SyncNet: needs at least {CLIP_FRAMES + 1} frames (0.24 s) of video and audio "
            f"at 25 fps, got {len(frame_index)} video frame(s) and {len(audio) / SYNCNET_SAMPLE_RATE:.3f} s "
            "of audio"
        )
    mfcc_t = _mfcc_16k(audio).T  # 13 × n, so a window is a column slice

    net.eval()  # BatchNorm must use its running statistics
    video_emb: list[torch.Tensor] = []
    audio_emb: list[torch.Tensor] = []
    with torch.inference_mode():
        for first in range(0, n_windows, batch_size):
            starts = range(first, min(n_windows, first + batch_size))
            video_emb.append(
                net.forward_video(_face_batch(faces, frame_index, starts).to(device)).float().cpu()
            )
            audio_emb.append(net.forward_audio(_mfcc_batch(mfcc_t, starts).to(device)).float().cpu())
    video = torch.cat(video_emb)
    speech = torch.cat(audio_emb)

    # dist[i, w]: video window i against audio window i + w - vshift, zero vectors outside the clip.
    n_shifts = 2 * vshift + 1
    padded = F.pad(speech, (0, 0, vshift, vshift))
    candidates = padded.unfold(0, n_shifts, 1).transpose(1, 2)  # n_windows × n_shifts × D
    dist = F.pairwise_distance(video[:, None, :].expand_as(candidates), candidates).numpy()
    mean_dist = dist.mean(axis=0)  # per audio shift -vshift..vshift
    best = int(np.argmin(mean_dist))
    min_dist = float(mean_dist[best])
    median_dist = float(np.median(mean_dist))
    frame_conf = (median_dist - dist[:, best]).astype(np.float32)
    with warnings.catch_warnings():
        # Fewer than 9 windows: medfilt zero-pads (as in the original) and warns about it.
        warnings.simplefilter("ignore", UserWarning)
        frame_conf = scipy.signal.medfilt(frame_conf, kernel_size=_MEDIAN_KERNEL).astype(np.float32)
    return LseResult(
        lse_d=min_dist,
        lse_c=median_dist - min_dist,
        offset_frames=vshift - best,
        distances=mean_dist[::-1].astype(np.float32).copy(),  # reorder by AV offset -vshift..vshift
        per_frame_confidence=frame_conf,
    )
