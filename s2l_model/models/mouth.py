"""Speech → mouth code (the mouth-shape stage): a small temporal network, its losses and its calibration.

The network reads one video frame's window of speaker-independent speech features (``features.frames``:
phoneme posteriors, per-utterance normalised mel and loudness, 20 ms steps) and predicts the frame's mouth
code (``geometry.mouthcode``). It is small enough to train in a minute or two on a CPU; the lip renderer is
trained separately on the *true* codes, so neither has to learn both halves of the problem at once.

Regression to the mean is what made the old audio-conditioned lip field under-move (about 15 % of the real
amplitude). Three terms besides the codes' MSE fight it (``mouth_terms``): a velocity term (frame-to-frame
changes must match the truth's, not only the values), a variance term (each component's spread over the batch
must match the truth's) and a contrastive sync term at the code level (a predicted sequence must be nearer its
own true sequence than other moments' and than itself shifted by a few frames). What damping is left is
measured on a calibration slice the network never trained on and undone by a per-component affine map stored
with the network (``MouthStage.gain``/``bias``); ``s2l dub --mouth-amp`` scales the result around the resting
code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from s2l_model.features.phonemes import STEP_RATE
from s2l_model.geometry.mouthcode import MouthBasis

#: The lips are closed for a bilabial *before* the recogniser hears it: the closure is silent or a murmur, and
#: a stop is recognised at its release. So a frame closes for a bilabial the recogniser finds up to this far
#: after it (``MouthStage.closure``), and a bilabial probability of 1 / CLOSURE_SCALE closes it completely.
CLOSURE_LEAD_S = 0.16
CLOSURE_SCALE = 1.5
#: Channels each 20 ms step of the feature window is projected to before the convolutions.
PROJECTED = 64


class MouthPredictor(nn.Module):
    """(B, S, D) feature windows → (B, K) mouth codes: 1D convolutions over the window's steps, then an MLP
    on the flattened result (the window's middle matters most; global pooling would lose where a sound
    sits in it)."""

    def __init__(self, feature_dim: int, window_steps: int, components: int, width: int = 128) -> None:
        super().__init__()
        self.input_dropout = nn.Dropout(0.1)
        # a per-step projection first: the 272 feature channels are mostly one-hot-like phoneme posteriors,
        # and projecting them once is 5× cheaper than a first convolution over all of them
        self.project = nn.Sequential(nn.Linear(feature_dim, PROJECTED), nn.LeakyReLU(0.02))
        self.convs = nn.Sequential(
            nn.Conv1d(PROJECTED, width, 3, padding=1),
            nn.LeakyReLU(0.02),
            nn.Conv1d(width, width, 3, stride=2, padding=1),
            nn.LeakyReLU(0.02),
            nn.Conv1d(width, width, 3, stride=2, padding=1),
            nn.LeakyReLU(0.02),
        )
        steps = _halved(_halved(window_steps))  # two stride-2 convolutions
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(width * steps, width),
            nn.LeakyReLU(0.02),
            nn.Dropout(0.1),
            nn.Linear(width, components),
        )

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        h = self.project(self.input_dropout(windows.float()))
        return self.head(self.convs(h.transpose(1, 2)))


def _halved(n: int) -> int:
    """Length after a stride-2, padding-1, kernel-3 convolution."""
    return (n + 1) // 2


class MouthStage(nn.Module):
    """The profile's mouth stage: the speaker's mouth basis (buffers), the predictor and its calibration.

    Every tensor is in the state dict, so a profile stores the basis, the network and the calibration
    together and the renderer needs nothing else to go from speech features to codes."""

    def __init__(self, feature_dim: int, window_steps: int, components: int, points: int) -> None:
        super().__init__()
        self.predictor = MouthPredictor(feature_dim, window_steps, components)
        self.register_buffer("basis_mean", torch.zeros(points, 3))
        self.register_buffer("basis_components", torch.zeros(components, 3 * points))
        self.register_buffer("basis_scale", torch.ones(components))
        self.register_buffer("rest", torch.zeros(components))  # the resting (canonical-frame) code
        self.register_buffer("gain", torch.ones(components))  # calibration: code = gain · raw + bias
        self.register_buffer("bias", torch.zeros(components))
        # 1 on the feature channels of the bilabial phones (``features.frames.bilabial_channels``)
        self.register_buffer("bilabial", torch.zeros(feature_dim))

    def set_basis(self, basis: MouthBasis, rest: np.ndarray) -> None:
        self.basis_mean.copy_(torch.from_numpy(basis.mean))
        self.basis_components.copy_(torch.from_numpy(basis.components))
        self.basis_scale.copy_(torch.from_numpy(basis.scale))
        self.rest.copy_(torch.from_numpy(np.asarray(rest, np.float32)))

    def basis(self) -> MouthBasis:
        return MouthBasis(
            self.basis_mean.cpu().numpy(), self.basis_components.cpu().numpy(), self.basis_scale.cpu().numpy()
        )

    def set_calibration(self, gain: np.ndarray, bias: np.ndarray) -> None:
        self.gain.copy_(torch.from_numpy(np.asarray(gain, np.float32)))
        self.bias.copy_(torch.from_numpy(np.asarray(bias, np.float32)))

    def predict(self, windows: torch.Tensor) -> torch.Tensor:
        """(B, S, D) feature windows → (B, K) calibrated codes."""
        return self.calibrate(self.predictor(windows))

    def calibrate(self, raw: torch.Tensor) -> torch.Tensor:
        """(B, K) raw predictions → calibrated codes (``fit_calibration``)."""
        return self.gain * raw + self.bias

    def closure(self, windows: torch.Tensor) -> torch.Tensor:
        """(B, S, D) feature windows → (B,) in [0, 1]: how surely the lips are closed for a bilabial (p, b,
        m …) at the frame: 1.5 × the largest bilabial probability on the window's steps that lie after the
        frame, by at most ``CLOSURE_LEAD_S`` (the recogniser's spike may sit anywhere in it), at most 1.

        The lips close completely for a bilabial in every language, and a regression from speech, which
        averages, never quite closes them; the recogniser's posterior says when, but late. Measured with
        hama (``BENCHMARKS.md``, "Third session"): on the dev clip's own footage the tracked lips are
        closed on 84 % of the frames 80 ms before a bilabial spike and on 42 % at the spike; on
        ``english_60s.wav`` pocketsphinx's p/b/m frames precede hama's spikes by 40-120 ms. A window
        centred on the frame (±80 ms, as before) found 22 % of those p/b/m frames, this one 43 %, and it
        closes fewer open vowels (7 % against 12 %)."""
        steps = windows.shape[1]
        offsets = (torch.arange(steps, device=windows.device) - (steps - 1) / 2) / STEP_RATE
        ahead = (offsets > 0) & (offsets <= CLOSURE_LEAD_S + 1e-6)
        bilabial = windows[:, ahead].float() @ self.bilabial
        return (CLOSURE_SCALE * bilabial.amax(dim=1)).clamp(0, 1)

    def speak(self, windows: torch.Tensor, weight: torch.Tensor, amplitude: float) -> torch.Tensor:
        """The codes the renderer gets for (B, S, D) feature windows: predicted, calibrated, closed on
        bilabials, and driven by the speech weight (B,) and ``amplitude`` (``drive``)."""
        return self.drive(self.predict(windows), self.drive_weight(windows, weight), amplitude)

    def drive_weight(self, windows: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """(B,) how far ``speak`` drives each frame's code from rest: the speech weight (B,), less the
        bilabial closure of its (B, S, D) feature window (the calibration fits its gain on the same)."""
        return weight * (1 - self.closure(windows))

    def drive(self, codes: torch.Tensor, weight: torch.Tensor, amplitude: float) -> torch.Tensor:
        """Codes as the renderer receives them: ``amplitude`` × the speech weight (B,) in [0, 1] of the way
        from the resting code to ``codes`` (B, K). Weight 0 (silence) or amplitude 0 gives the resting code
        exactly, amplitude > 1 exaggerates the mouth."""
        return self.rest + (amplitude * weight)[:, None] * (codes - self.rest)


@dataclass(frozen=True)
class CodeCalibration:
    """The amplitude map of raw predictions: code = rest + gain · (raw − rest), one gain for the whole code
    (as ``MouthStage.gain``/``bias`` store it), and what it was fitted on."""

    gain: np.ndarray  # (K,) the same gain in every component
    bias: np.ndarray  # (K,) rest · (1 − gain), so that the resting code stays where it is
    frames: int


#: The calibration gain is kept in this range: beyond it the network predicts too little of the motion for
#: a louder copy of it to be worth having.
GAIN_RANGE = (0.5, 3.0)


def fit_calibration(
    predicted: np.ndarray,
    truth: np.ndarray,
    rest: np.ndarray,
    opening: Callable[[np.ndarray], np.ndarray],
    weight: np.ndarray | None = None,
) -> CodeCalibration:
    """(M, K) raw predictions and true codes of frames the network did not train on, the (K,) resting code
    and the opening of (M, K) codes (``geometry.mouthcode.code_opening`` with the speaker's basis) → the
    one gain about the resting code that gives the predicted mouth opening the truth's standard deviation.

    ``weight`` (M,) is how far each frame's code is driven from rest, as ``MouthStage.speak`` drives it
    (the speech weight, less the bilabial closure; default 1): the spread matched is that of the codes the
    renderer gets. Calibrating the raw codes instead and gating them afterwards added the gate's own
    spread (silence forced shut, bilabials closed) on top: held-out std ratio 1.18-1.30 against 1.00-1.10
    (three seeds, dev clip, ``BENCHMARKS.md``).

    One gain, not one per component: matching every component's spread would blow up the components the
    speech barely predicts into noise (on the dev clip that doubled the codes' error); the amplitude a
    viewer sees is how far the mouth opens, so that is what is matched."""
    w = np.ones(len(predicted), np.float32) if weight is None else np.asarray(weight, np.float32)
    target = float(opening(truth).std())
    gains = np.linspace(*GAIN_RANGE, 101)
    offset = w[:, None] * (predicted - rest)
    spread = np.array([opening(rest + g * offset).std() for g in gains])
    gain = float(gains[np.argmin(np.abs(spread - target))])
    k = predicted.shape[1]
    return CodeCalibration(
        np.full(k, gain, np.float32), (rest * (1 - gain)).astype(np.float32), len(predicted)
    )


def mouth_terms(
    predicted: torch.Tensor,
    truth: torch.Tensor,
    shifted_truth: torch.Tensor | None,
    component_weight: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """The mouth stage's loss terms on B sequences of L consecutive frames, unweighted, by name: ``code``
    (MSE), ``code_velocity``, ``code_variance`` and, given ``shifted_truth``, ``code_sync``.

    ``predicted``/``truth``: (B, L, K) codes; ``shifted_truth``: (B, S, L, K) the true sequences moved by
    ``dataset.batches.CODE_SHIFTS`` (the sync term's hard negatives); ``component_weight`` (K,) weighs
    the code's components (the first ones carry most of the mouth's motion)."""
    w = component_weight
    dp, dt = predicted.diff(dim=1), truth.diff(dim=1)
    flat_p, flat_t = predicted.reshape(-1, predicted.shape[-1]), truth.reshape(-1, truth.shape[-1])
    terms = {
        "code": ((predicted - truth).square() * w).mean(),
        "code_velocity": ((dp - dt).square() * w).mean(),
        "code_variance": ((flat_p.std(dim=0) - flat_t.std(dim=0)).square() * w).mean(),
    }
    if shifted_truth is not None:
        terms["code_sync"] = _code_sync(predicted, truth, shifted_truth)
    return terms


def _code_sync(predicted: torch.Tensor, truth: torch.Tensor, shifted: torch.Tensor) -> torch.Tensor:
    """InfoNCE: each predicted sequence against every true sequence of the batch and its own shifts."""
    b = len(predicted)
    p = F.normalize(predicted.reshape(b, -1), dim=1)
    t = F.normalize(truth.reshape(b, -1), dim=1)
    s = F.normalize(shifted.reshape(b, shifted.shape[1], -1), dim=2)
    batch_logits = p @ t.T  # (B, B): the diagonal is the positive
    shift_logits = torch.einsum("bd,bsd->bs", p, s)
    logits = torch.cat([batch_logits, shift_logits], dim=1) / 0.1
    return F.cross_entropy(logits, torch.arange(b, device=predicted.device))


def component_weights(components: int) -> torch.Tensor:
    """(K,) weights of the code's components, falling with their index (the first ones carry most of the
    motion; the last are mostly tracking noise) and averaging 1."""
    w = 1.0 / (1.0 + 0.25 * torch.arange(components, dtype=torch.float32))
    return w / w.mean()
