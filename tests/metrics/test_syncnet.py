"""SyncNet LSE-D / LSE-C: architecture, weight loading, MFCC front end and offset search.

The public weights are not available here, so the scores are checked with a fake network whose
embeddings are decoded from the inputs (a code written into the faces and into the speech level).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from s2l_model.errors import InputError
from s2l_model.metrics.syncnet import SyncNet, load_syncnet, lse_scores, syncnet_mfcc

SR = 16000

# Conv / linear weight shapes of the public syncnet_v2.model (joonson/syncnet_python, SyncNetModel.S).
PUBLIC_WEIGHT_SHAPES: dict[str, tuple[int, ...]] = {
    "netcnnaud.0.weight": (64, 1, 3, 3),
    "netcnnaud.4.weight": (192, 64, 3, 3),
    "netcnnaud.8.weight": (384, 192, 3, 3),
    "netcnnaud.11.weight": (256, 384, 3, 3),
    "netcnnaud.14.weight": (256, 256, 3, 3),
    "netcnnaud.18.weight": (512, 256, 5, 4),
    "netfcaud.0.weight": (512, 512),
    "netfcaud.3.weight": (1024, 512),
    "netcnnlip.0.weight": (96, 3, 5, 7, 7),
    "netcnnlip.4.weight": (256, 96, 1, 5, 5),
    "netcnnlip.8.weight": (256, 256, 1, 3, 3),
    "netcnnlip.11.weight": (256, 256, 1, 3, 3),
    "netcnnlip.14.weight": (256, 256, 1, 3, 3),
    "netcnnlip.18.weight": (512, 256, 1, 6, 6),
    "netfclip.0.weight": (512, 512),
    "netfclip.3.weight": (1024, 512),
}
# Batch norms (weight, bias, running_mean, running_var, num_batches_tracked) follow each conv / first FC.
PUBLIC_NORMS: dict[str, int] = {
    "netcnnaud.1": 64,
    "netcnnaud.5": 192,
    "netcnnaud.9": 384,
    "netcnnaud.12": 256,
    "netcnnaud.15": 256,
    "netcnnaud.19": 512,
    "netfcaud.1": 512,
    "netcnnlip.1": 96,
    "netcnnlip.5": 256,
    "netcnnlip.9": 256,
    "netcnnlip.12": 256,
    "netcnnlip.15": 256,
    "netcnnlip.19": 512,
    "netfclip.1": 512,
}


def public_state_shapes() -> dict[str, tuple[int, ...]]:
    shapes = dict(PUBLIC_WEIGHT_SHAPES)
    for name, shape in PUBLIC_WEIGHT_SHAPES.items():
        shapes[name.replace(".weight", ".bias")] = shape[:1]
    for prefix, channels in PUBLIC_NORMS.items():
        for field in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}.{field}"] = (channels,)
        shapes[f"{prefix}.num_batches_tracked"] = ()
    return shapes


@pytest.fixture(scope="module")
def random_net() -> SyncNet:
    """Random weights and random BatchNorm statistics, so a load that drops any tensor shows."""
    torch.manual_seed(0)
    net = SyncNet()
    for module in net.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)
    return net.eval()


def probe_outputs(net: SyncNet) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    mfcc = torch.randn(2, 1, 13, 20, generator=gen) * 5
    faces = torch.rand(1, 3, 5, 224, 224, generator=gen) * 255
    with torch.no_grad():
        return net.forward_audio(mfcc), net.forward_video(faces)


# ---------------------------------------------------------------------------------------------- model


def test_architecture_parameter_count_and_output_shapes(random_net: SyncNet) -> None:
    # Hand count: audio trunk 4 875 712 + two heads 2 × 788 992 + lip trunk 7 177 920.
    assert sum(p.numel() for p in random_net.parameters()) == 13_631_616
    audio, video = probe_outputs(random_net)
    assert audio.shape == (2, 1024)
    assert video.shape == (1, 1024)
    assert torch.isfinite(audio).all() and torch.isfinite(video).all()
    with pytest.raises(ValueError):
        random_net.forward_audio(torch.zeros(1, 1, 13, 19))


def test_state_dict_keys_and_shapes_match_the_public_model() -> None:
    ours = {k: tuple(v.shape) for k, v in SyncNet().state_dict().items()}
    assert ours == public_state_shapes()


def test_saved_state_dict_loads_back_with_identical_outputs(random_net: SyncNet, tmp_path: Path) -> None:
    path = tmp_path / "syncnet.model"
    torch.save(random_net.state_dict(), path)
    loaded = load_syncnet(path)
    assert not loaded.training
    for ours, theirs in zip(probe_outputs(random_net), probe_outputs(loaded), strict=True):
        assert torch.equal(ours, theirs)


def test_prefixed_and_counterless_files_load(random_net: SyncNet, tmp_path: Path) -> None:
    # DataParallel's "module." prefix, and a file from before PyTorch saved num_batches_tracked.
    state = {
        f"module.{k}": v for k, v in random_net.state_dict().items() if not k.endswith("num_batches_tracked")
    }
    path = tmp_path / "prefixed.model"
    torch.save(state, path)
    loaded = load_syncnet(str(path))
    assert torch.equal(probe_outputs(loaded)[0], probe_outputs(random_net)[0])


@pytest.mark.parametrize("kind", ["renamed", "extra", "missing", "shape", "garbage", "not_a_dict", "absent"])
def test_bad_weight_files_raise_input_error(kind: str, random_net: SyncNet, tmp_path: Path) -> None:
    path = tmp_path / f"{kind}.model"
    state = dict(random_net.state_dict())
    if kind == "renamed":
        torch.save({k.replace("netcnnlip", "lipnet"): v for k, v in state.items()}, path)
    elif kind == "extra":
        torch.save({**state, "classifier.weight": torch.zeros(3)}, path)
    elif kind == "missing":
        del state["netfclip.3.bias"]
        torch.save(state, path)
    elif kind == "shape":
        state["netfclip.3.weight"] = torch.zeros(512, 512)
        torch.save(state, path)
    elif kind == "garbage":
        path.write_bytes(b"this is not a pytorch file\x00\x01" * 10)
    elif kind == "not_a_dict":
        torch.save([torch.zeros(3)], path)
    with pytest.raises(InputError) as info:
        load_syncnet(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message


# ---------------------------------------------------------------------------------------------- MFCC


def tone(freq: float, amplitude: float, seconds: float) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(int(seconds * SR)) / SR)).astype(np.float32)


def reference_mfcc(x: np.ndarray) -> np.ndarray:
    """Slow, literal transcription of python_speech_features.mfcc's documented steps (defaults, 16 kHz)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.concatenate([x[:1], x[1:] - 0.97 * x[:-1]])
    n_frames = 1 if len(y) <= 400 else 1 + math.ceil((len(y) - 400) / 160)
    y = np.concatenate([y, np.zeros((n_frames - 1) * 160 + 400 - len(y))])
    mel = np.linspace(0, 2595 * math.log10(1 + 8000 / 700), 28)
    edges = [math.floor(513 * 700 * (10 ** (m / 2595) - 1) / 16000) for m in mel]
    bank = np.zeros((26, 257))
    for j in range(26):
        for i in range(edges[j], edges[j + 1]):
            bank[j, i] = (i - edges[j]) / (edges[j + 1] - edges[j])
        for i in range(edges[j + 1], edges[j + 2]):
            bank[j, i] = (edges[j + 2] - i) / (edges[j + 2] - edges[j + 1])
    out = np.zeros((n_frames, 13))
    for f in range(n_frames):
        frame = np.concatenate([y[f * 160 : f * 160 + 400], np.zeros(112)])
        spectrum = np.array(
            [abs(np.sum(frame * np.exp(-2j * np.pi * k * np.arange(512) / 512))) for k in range(257)]
        )
        power = spectrum**2 / 512
        log_mel = np.log(np.maximum(bank @ power, np.finfo(float).eps))
        for n in range(13):
            scale = math.sqrt(1 / 26) if n == 0 else math.sqrt(2 / 26)
            c = scale * sum(log_mel[k] * math.cos(math.pi * n * (2 * k + 1) / 52) for k in range(26))
            out[f, n] = c * (1 + 11 * math.sin(math.pi * n / 22))
        out[f, 0] = math.log(max(power.sum(), np.finfo(float).eps))
    return out


def test_mfcc_shape_and_frame_count() -> None:
    mfcc = syncnet_mfcc(tone(440, 0.3, 1.0))
    assert mfcc.shape == (99, 13)  # 1 + ceil((16000 - 400) / 160): a 100 Hz grid of 25 ms frames
    assert mfcc.dtype == np.float32
    assert syncnet_mfcc(np.zeros(400, np.float32)).shape == (1, 13)
    # Another rate is resampled to 16 kHz first: 1 s is still 99 frames.
    assert syncnet_mfcc(np.zeros(48000, np.float32), sample_rate=48000).shape == (99, 13)


def test_mfcc_energy_of_a_pure_tone() -> None:
    # A 1 kHz tone has exactly 25 periods per 400-sample frame, so its preemphasised power spectrum
    # sums (bins 0..256, /512) to half the frame's sum of squares: 400 · (A·g)² / 2 / 2 = 100 (A·g)²,
    # g = |1 - 0.97 e^{-jω}| the preemphasis gain, A the int16-scale amplitude.
    amplitude = 0.25
    gain = abs(1 - 0.97 * np.exp(-2j * np.pi * 1000 / SR))
    expected = math.log(100 * (amplitude * 32768 * gain) ** 2)
    c0 = syncnet_mfcc(tone(1000, amplitude, 0.5))[1:-3, 0]
    np.testing.assert_allclose(c0, expected, atol=2e-3)
    # Double the amplitude: the log energy rises by log 4.
    c0_loud = syncnet_mfcc(tone(1000, 2 * amplitude, 0.5))[1:-3, 0]
    np.testing.assert_allclose(c0_loud - c0, math.log(4), atol=2e-3)


def test_mfcc_matches_a_literal_reference_on_noise() -> None:
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(2000) * 0.1).astype(np.float32)
    x[800:1300] = 0  # digital silence inside: exercises the eps floor on whole frames
    ours = syncnet_mfcc(x).astype(np.float64)
    ref = reference_mfcc(np.round(x.astype(np.float64) * 32768))
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-3)
    # int16 input is the same signal on its native scale.
    as_int16 = np.round(x.astype(np.float64) * 32768).astype(np.int16)
    np.testing.assert_allclose(syncnet_mfcc(as_int16), ours, rtol=1e-6, atol=1e-5)


def test_mfcc_rejects_unusable_audio() -> None:
    with pytest.raises(InputError):
        syncnet_mfcc(np.zeros((100, 2), np.float32))
    with pytest.raises(InputError):
        syncnet_mfcc(np.zeros(0, np.float32))


# ---------------------------------------------------------------------------------------------- LSE

N_LEVELS = 6
LEVEL_STEP = 3.0  # amplitude ratio between consecutive code levels
BASE_AMPLITUDE = 0.003
TONE_GAIN = abs(1 - 0.97 * np.exp(-2j * np.pi * 1000 / SR))


class CodeNet(SyncNet):
    """Embeds the code symbol visible in each input as a one-hot vector (no learned weights).

    Video: the red channel level of the first of the 5 frames (reads channel 2 of the BGR input).
    Audio: MFCC frame 1 of the 20 (it lies inside the window's first 40 ms), via its log energy.
    """

    def __init__(self) -> None:
        nn.Module.__init__(self)

    def forward_video(self, faces: torch.Tensor) -> torch.Tensor:
        red = faces[:, 2, 0].mean(dim=(1, 2))
        return self.embed(torch.round((red - 20) / 40))

    def forward_audio(self, mfcc: torch.Tensor) -> torch.Tensor:
        base = math.log(100 * (BASE_AMPLITUDE * 32768 * TONE_GAIN) ** 2)
        return self.embed(torch.round((mfcc[:, 0, 0, 1] - base) / math.log(LEVEL_STEP**2)))

    @staticmethod
    def embed(symbol: torch.Tensor) -> torch.Tensor:
        index = symbol.long().clamp(0, N_LEVELS - 1)
        return nn.functional.one_hot(index, 1024).float() * 3.0


def coded_clip(n_frames: int, audio_delay: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Faces whose red level shows code[t]; speech whose 1 kHz tone level in frame t shows code[t - delay]."""
    rng = np.random.default_rng(seed)
    margin = 20
    code = rng.integers(0, N_LEVELS, n_frames + 2 * margin)
    video_code = code[margin : margin + n_frames]
    audio_code = code[margin - audio_delay : margin - audio_delay + n_frames]
    faces = np.empty((n_frames, 224, 224, 3), np.uint8)
    faces[..., 0] = (20 + 40 * video_code)[:, None, None]
    faces[..., 1] = 200  # other channels constant: reading the wrong one decodes nothing
    faces[..., 2] = 7
    amplitude = np.repeat(BASE_AMPLITUDE * LEVEL_STEP**audio_code, 640)
    samples = (amplitude * np.sin(2 * np.pi * 1000 * np.arange(len(amplitude)) / SR)).astype(np.float32)
    return faces, samples


@pytest.mark.parametrize("audio_delay", [3, -2, 0])
def test_lse_recovers_a_known_offset(audio_delay: int) -> None:
    faces, samples = coded_clip(60, audio_delay)
    result = lse_scores(CodeNet(), faces, samples, SR, 25.0)
    # Audio delayed by k frames (lagging) is AV offset -k; audio ahead is positive.
    assert result.offset_frames == -audio_delay
    assert result.distances.shape == (31,)
    assert result.distances[result.offset_frames + 15] == pytest.approx(result.lse_d)
    assert result.lse_d == pytest.approx(result.distances.min())
    assert result.lse_d < 0.5  # only windows whose partner falls off the clip disagree
    assert result.lse_c > 2.0
    assert result.lse_c == pytest.approx(float(np.median(result.distances)) - result.lse_d)
    assert result.per_frame_confidence.shape == (60 - 5,)
    assert np.median(result.per_frame_confidence) > 2.0


def test_lse_resamples_other_frame_rates_and_batches_consistently() -> None:
    faces, samples = coded_clip(50, 4, seed=1)
    reference = lse_scores(CodeNet(), faces, samples, SR, 25.0, vshift=8, batch_size=7)
    assert reference.offset_frames == -4 and reference.distances.shape == (17,)
    doubled = lse_scores(CodeNet(), np.repeat(faces, 2, axis=0), samples, SR, 50.0, vshift=8)
    assert doubled.offset_frames == -4
    np.testing.assert_allclose(doubled.distances, reference.distances, rtol=1e-6)
    # Speech at 48 kHz is resampled to 16 kHz; the decoded levels survive.
    upsampled = np.repeat(samples, 3)  # a crude 48 kHz version: the tone level is what matters
    at_48k = lse_scores(CodeNet(), faces, upsampled, 48000, 25.0, vshift=8)
    assert at_48k.offset_frames == -4


def test_lse_rejects_too_short_or_malformed_input() -> None:
    faces, samples = coded_clip(30, 0)
    with pytest.raises(InputError, match="too short"):
        lse_scores(CodeNet(), faces[:5], samples, SR, 25.0)
    with pytest.raises(InputError, match="too short"):
        lse_scores(CodeNet(), faces, samples[: 5 * 640], SR, 25.0)
    assert lse_scores(CodeNet(), faces[:6], samples, SR, 25.0).per_frame_confidence.shape == (1,)
    with pytest.raises(InputError):
        lse_scores(CodeNet(), faces[:, :112], samples, SR, 25.0)
    with pytest.raises(InputError):
        lse_scores(CodeNet(), faces.astype(np.float32), samples, SR, 25.0)
