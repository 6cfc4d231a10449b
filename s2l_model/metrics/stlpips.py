"""ST-LPIPS: the shift-tolerant LPIPS perceptual distance (Ghildyal & Liu, ECCV 2022).

The weights come from the ``stlpips-pytorch`` wheel (``stlpips_pytorch/weights/vST0.0/*.pth``, BSD-2).
Its Python code imports torchvision, which has no working build here, so the networks are rebuilt in this
module from the published layer lists and only the weight files are read (``weights_only=True``).

Both backbones are anti-aliased: every stride-2 step is a 3x3 binomial blur with reflection padding of 2 on
each side followed by sub-sampling ("BlurPool"), and the max-pools run at stride 1 before it. The distance
is LPIPS v0.1: inputs scaled to [-1, 1], shifted/scaled per channel, features unit-normalised along the
channels, squared differences weighted by the 1x1 "lin" layers, averaged over space and summed over the
five stages.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from s2l_model.errors import InputError

Backbone = Literal["alex", "vgg"]

# Layer lists in the order of the weight files' ``net.sliceK.<index>`` keys. A tuple is
# (kind, index in the original feature stack, arguments); indices must match to load the state dict.
#   conv: (in, out, kernel, padding) · blur: channels · pool: max-pool 3 (alex) or 2 (vgg) at stride 1
_ALEX_STAGES: tuple[tuple[tuple, ...], ...] = (
    (("conv", 0, (3, 64, 11, 2)), ("blur", 1, 64), ("relu", 2, None)),
    (("pool", 3, 3), ("blur", 4, 64), ("conv", 5, (64, 192, 5, 2)), ("relu", 6, None)),
    (("pool", 7, 3), ("blur", 8, 192), ("conv", 9, (192, 384, 3, 1)), ("relu", 10, None)),
    (("conv", 11, (384, 256, 3, 1)), ("relu", 12, None)),
    (("conv", 13, (256, 256, 3, 1)), ("relu", 14, None)),
)


def _vgg_stages() -> tuple[tuple[tuple, ...], ...]:
    """VGG16 configuration D with BlurPool: stage k ends at relu{k}_2 or relu{k}_3 as in LPIPS."""
    widths = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
    stages: list[tuple[tuple, ...]] = []
    index, channels = 0, 3
    for stage, outs in enumerate(widths):
        layers: list[tuple] = []
        if stage > 0:  # each stage after the first opens with the anti-aliased down-sampling
            layers += [("pool", index, 2), ("blur", index + 1, channels)]
            index += 2
        for out in outs:
            layers += [("conv", index, (channels, out, 3, 1)), ("relu", index + 1, None)]
            index, channels = index + 2, out
        stages.append(tuple(layers))
    return tuple(stages)


_STAGES: dict[str, tuple[tuple[tuple, ...], ...]] = {"alex": _ALEX_STAGES, "vgg": _vgg_stages()}
_CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512)}


class BlurPool(nn.Module):
    """Binomial [1, 2, 1]^2 / 16 blur then stride-2 sub-sampling, reflection-padded by 2 on every side."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        taps = torch.tensor([1.0, 2.0, 1.0])
        kernel = torch.outer(taps, taps) / 16.0
        self.register_buffer("filt", kernel.expand(channels, 1, 3, 3).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), self.filt, stride=2, groups=x.shape[1])


class _MaxPoolStride1(nn.Module):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(x, self.size, stride=1)


def _layer(kind: str, args: object) -> nn.Module:
    if kind == "conv":
        c_in, c_out, kernel, padding = args  # type: ignore[misc]
        return nn.Conv2d(c_in, c_out, kernel, padding=padding)
    if kind == "blur":
        return BlurPool(int(args))  # type: ignore[call-overload]
    if kind == "pool":
        return _MaxPoolStride1(int(args))  # type: ignore[call-overload]
    return nn.ReLU()


class _Backbone(nn.Module):
    def __init__(self, name: Backbone) -> None:
        super().__init__()
        for number, stage in enumerate(_STAGES[name], start=1):
            # Sparse integer keys inside each slice reproduce the weight files' names (net.slice2.5.weight).
            layers = nn.Module()
            for kind, index, args in stage:
                layers.add_module(str(index), _layer(kind, args))
            setattr(self, f"slice{number}", layers)
        self.n_stages = len(_STAGES[name])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for number in range(1, self.n_stages + 1):
            for layer in getattr(self, f"slice{number}").children():
                x = layer(x)
            features.append(x)
        return features


class _Lin(nn.Module):
    """1x1 convolution to one channel; ``model.1`` is where the weight files keep it (index 0 was dropout)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.model = nn.Module()
        self.model.add_module("1", nn.Conv2d(channels, 1, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self.model, "1")(x)


#: Inputs with a shorter side are upscaled (aspect kept) before the backbone: its stride-2 blur-pool stages
#: pad by reflection, which needs more than 2 pixels at the deepest stage (a small lip patch has fewer).
MIN_SIDE = 64


class STLPIPS(nn.Module):
    """Shift-tolerant LPIPS distance; ``forward(a, b)`` takes (N, 3, H, W) in [0, 1] and returns (N,)."""

    def __init__(self, backbone: Backbone = "alex") -> None:
        super().__init__()
        if backbone not in _STAGES:
            raise ValueError(f"unknown ST-LPIPS backbone {backbone!r} (alex or vgg)")
        self.backbone_name = backbone
        # LPIPS v0.1 input normalisation, kept under the weight files' key names (scaling_layer.*)
        self.scaling_layer = nn.Module()
        self.scaling_layer.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1))
        self.scaling_layer.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1))
        self.net = _Backbone(backbone)
        for k, channels in enumerate(_CHANNELS[backbone]):
            setattr(self, f"lin{k}", _Lin(channels))

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        shift, scale = self.scaling_layer.shift, self.scaling_layer.scale
        short = min(a.shape[-2:])
        if short < MIN_SIDE:  # the backbone's blur-pool stages need a few pixels left at the deepest one
            factor = MIN_SIDE / short
            a = F.interpolate(a, scale_factor=factor, mode="bilinear", align_corners=False)
            b = F.interpolate(b, scale_factor=factor, mode="bilinear", align_corners=False)
        fa = self.net((2 * a - 1 - shift) / scale)
        fb = self.net((2 * b - 1 - shift) / scale)
        total = torch.zeros(a.shape[0], device=a.device, dtype=a.dtype)
        for k, (xa, xb) in enumerate(zip(fa, fb, strict=True)):
            # unit length along channels (eps as in LPIPS so an all-zero feature stays finite)
            xa = xa / (xa.square().sum(dim=1, keepdim=True).sqrt() + 1e-10)
            xb = xb / (xb.square().sum(dim=1, keepdim=True).sqrt() + 1e-10)
            total = total + getattr(self, f"lin{k}")((xa - xb).square()).mean(dim=(1, 2, 3))
        return total


def weights_file(backbone: Backbone) -> Path:
    """Path of the shipped weight file inside the installed ``stlpips-pytorch`` package (no import of it)."""
    spec = importlib.util.find_spec("stlpips_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("ST-LPIPS weights missing: the stlpips-pytorch package is not installed")
    package = Path(next(iter(spec.submodule_search_locations)))
    path = package / "weights" / "vST0.0" / f"{backbone}_shift_tolerant.pth"
    if not path.is_file():
        raise InputError(f"ST-LPIPS weights missing: {path}")
    return path


@functools.cache
def load_stlpips(backbone: Backbone = "alex", device: str = "cpu") -> STLPIPS:
    """The pretrained ST-LPIPS network in eval mode with frozen weights (cached per backbone and device)."""
    model = STLPIPS(backbone)
    state = torch.load(weights_file(backbone), map_location="cpu", weights_only=True)
    try:
        model.load_state_dict(state)
    except RuntimeError:
        path = weights_file(backbone)
        raise InputError(f"ST-LPIPS weight file does not match the network: {path}") from None
    model.requires_grad_(False)
    return model.eval().to(device)


def stlpips_distance(
    prediction: torch.Tensor, truth: torch.Tensor, *, backbone: Backbone = "alex", batch: int = 8
) -> torch.Tensor:
    """ST-LPIPS of uint8/0..255 (N, H, W, 3) image batches (lower = more alike), computed in chunks."""
    model = load_stlpips(backbone, str(prediction.device))
    out = []
    with torch.inference_mode():
        for start in range(0, prediction.shape[0], batch):
            a = prediction[start : start + batch].permute(0, 3, 1, 2).float() / 255.0
            b = truth[start : start + batch].permute(0, 3, 1, 2).float() / 255.0
            out.append(model(a, b))
    return torch.cat(out) if out else torch.zeros(0)
