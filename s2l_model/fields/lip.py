"""The speech-driven implicit lip generator F(x, a, t) → RGB (paper Sec. 4.2, Eq. 1-2).

x: a continuous 2D coordinate in [0, 1]² over the canonical lip box (pixel i of a w-wide sampling covers
[i/w, (i+1)/w), its centre is (i + 0.5)/w, so any resolution samples the same function).
a: with ``drive = "mouth"`` (the default since issue 16) the frame's *mouth code* (``geometry.mouthcode``),
the true one in training and the one predicted from speech (``models.mouth``) when dubbing; with
``drive = "speech"`` (the paper's directly audio-conditioned field, kept for the ablation) a speech code
from an audio encoder over the frame's log-mel window.
t: a time code, sinusoids of the frame's time in seconds (periods 1 s … 32 s) so that neighbouring frames get
neighbouring codes; off with ``use_time = false`` (the "w/o time" ablation).

The coordinate enters through a NeRF frequency encoding, or through a learned multi-resolution 2D feature
grid (``encoding = "grid"``). The first layer sums a projection of the coordinate with a projection of the
(speech, time) condition, as in the released model, so the condition is projected once per frame, not once
per pixel; one skip connection re-injects both halfway.

With ``base_image`` (the default; our faster variant, see BENCHMARKS.md) F(x, a, t) = B(x) + G(x, a, t).
B is a learned RGB image at the lip box's full resolution, read bilinearly at x and initialised with the
canonical frame's lips; the MLP G adds the speech- and time-driven change. B carries the fine, static detail
at source resolution from the first step, so the MLP (trained at the preset's lower ``lip_width``) only has
to learn how the mouth moves. Rendering above the training resolution upsamples G's output bilinearly
instead of querying the MLP between its training samples (where a frequency-encoded MLP aliases).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

TIME_PERIODS_S = 1.0  # shortest period of the time code; the others double


@dataclass(frozen=True)
class LipFieldConfig:
    """F's sizes (a part of the preset's ``[model]`` table, see ``models.config.ModelConfig``)."""

    encoding: str = "frequency"  # coordinate encoding: "frequency" (NeRF-style) or "grid" (multi-resolution)
    base_image: bool = True  # F = learned full-resolution base image + MLP residual
    frequencies: int = 8  # frequency encoding: sin/cos at 2^0 … 2^(k-1) times pi
    grid_levels: int = 4  # grid encoding: levels from 8 cells up, doubling
    grid_features: int = 4
    mlp_depth: int = 4
    mlp_width: int = 128
    audio_dim: int = 64
    expert_speech: bool = True  # the condition also holds the (frozen) sync expert's speech embedding
    sync_dim: int = 64  # the size of that embedding
    use_time: bool = True
    time_frequencies: int = 6  # periods 1 s … 32 s (the paper's timestamp code)
    drive: str = "mouth"  # what conditions F: "mouth" (mouth codes) or "speech" (the audio encoder)
    mouth_components: int = 8  # the mouth code's size (PCA components of the lip and jaw landmarks)
    appearance_kernels: int = 0  # Gaussian kernels over the code in the appearance basis (0: linear)


class MelNorm(nn.Module):
    """Standardises each mel band with the speaker's training statistics (buffers, stored in the profile).

    Fixed per-band statistics keep loudness: a per-frame LayerNorm would divide it away, and loudness is the
    strongest cue for how far the mouth opens (the first builds learned almost no motion with it)."""

    def __init__(self, n_mels: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_mels))
        self.register_buffer("std", torch.ones(n_mels))

    def set_statistics(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mean.copy_(mean)
        self.std.copy_(std.clamp(min=1e-3))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return (mel - self.mean) / self.std


class AudioEncoder(nn.Module):
    """(B, T, n_mels) log-mel window → (B, dim) speech code: strided 1D convolutions, then an MLP."""

    def __init__(self, n_mels: int, dim: int, width: int = 64) -> None:
        super().__init__()
        self.norm = MelNorm(n_mels)
        self.convs = nn.Sequential(
            nn.Conv1d(n_mels, width, 3, stride=2, padding=1),
            nn.LeakyReLU(0.02),
            nn.Conv1d(width, width, 3, stride=2, padding=1),
            nn.LeakyReLU(0.02),
            nn.Conv1d(width, width, 3, stride=2, padding=1),
            nn.LeakyReLU(0.02),
        )
        self.head = nn.Sequential(nn.Linear(width, width), nn.LeakyReLU(0.02), nn.Linear(width, dim))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        h = self.convs(self.norm(mel).transpose(1, 2))
        return self.head(h.mean(dim=2))


def time_code(seconds: torch.Tensor, frequencies: int) -> torch.Tensor:
    """(B,) times → (B, 2·frequencies) sin/cos with periods 1, 2, 4 … s."""
    periods = TIME_PERIODS_S * 2.0 ** torch.arange(frequencies, dtype=seconds.dtype, device=seconds.device)
    phase = 2 * math.pi * seconds[:, None] / periods
    return torch.cat([torch.sin(phase), torch.cos(phase)], dim=1)


class FrequencyEncoding(nn.Module):
    def __init__(self, frequencies: int) -> None:
        super().__init__()
        self.register_buffer("scales", math.pi * 2.0 ** torch.arange(frequencies, dtype=torch.float32))
        self.dim = 2 + 4 * frequencies

    def forward(self, xy: torch.Tensor) -> torch.Tensor:
        phase = (2 * xy[..., None] - 1) * self.scales  # (..., 2, k)
        return torch.cat([xy, torch.sin(phase).flatten(-2), torch.cos(phase).flatten(-2)], dim=-1)


class GridEncoding(nn.Module):
    """Learned feature grids at 8, 16, 32 … cells across, read bilinearly and concatenated (plus x itself)."""

    def __init__(self, levels: int, features: int, aspect: float) -> None:
        super().__init__()
        self.grids = nn.ParameterList()
        for level in range(levels):
            cells_x = 8 * 2**level
            cells_y = max(2, round(cells_x / aspect))
            self.grids.append(nn.Parameter(1e-2 * torch.randn(1, features, cells_y + 1, cells_x + 1)))
        self.dim = 2 + levels * features

    def forward(self, xy: torch.Tensor) -> torch.Tensor:
        flat = (2 * xy.reshape(1, -1, 1, 2) - 1).float()
        feats = [
            F.grid_sample(g, flat, mode="bilinear", padding_mode="border", align_corners=True)[0, :, :, 0].T
            for g in self.grids
        ]
        return torch.cat([xy, torch.cat(feats, dim=1).reshape(*xy.shape[:-1], -1)], dim=-1)


class LipField(nn.Module):
    """F(x, a, t): ``condition`` once per frame, then ``forward`` for any number of coordinates."""

    def __init__(
        self,
        config: LipFieldConfig,
        n_mels: int = 80,
        aspect: float = 1.5,
        base: torch.Tensor | None = None,
        train_size: tuple[int, int] | None = None,
    ) -> None:
        """``base``: (3, H, W) initial base image (the canonical lips, [0, 1]) when ``config.base_image``;
        ``train_size``: (w, h) the MLP is trained at (rendering never queries it finer)."""
        super().__init__()
        self.config = config
        self.train_size = train_size
        self.base: nn.Parameter | None = None
        if config.base_image:
            if base is None:
                raise ValueError("base_image needs the initial base image")
            self.base = nn.Parameter(base.float().clone()[None])
        # A mouth-driven field with a base image also has a linear appearance basis at the base's
        # resolution: F = B + Σ_k c_k A_k + G. A least-squares fit (``fit_appearance``) gives the mouth's
        # main motion before the first step; the MLP G learns what is not linear in the code.
        # With ``appearance_kernels`` J > 0 the basis also has one image per Gaussian kernel over the code
        # space (``appearance_features``): a linear basis blends every mouth shape into one average
        # movement, the kernels let each region of the code space have its own look (teeth, an open inner
        # mouth). The kernels' centres and width are data (buffers, set by ``set_kernels``).
        self.appearance: nn.Parameter | None = None
        if config.appearance_kernels > 0:  # (only then: profiles from before the kernels load as they were)
            self.register_buffer(
                "kernel_centres", torch.zeros(config.appearance_kernels, config.mouth_components)
            )
            self.register_buffer("kernel_width", torch.ones(()))
        if self.base is not None and config.drive == "mouth":
            _, _, h, w = self.base.shape
            self.appearance = nn.Parameter(torch.zeros(1, 3 * self.appearance_size, h, w))
        if config.drive not in ("mouth", "speech"):
            raise ValueError(f"unknown lip field drive {config.drive!r}")
        self.by_codes = config.drive == "mouth"
        self.audio = None if self.by_codes else AudioEncoder(n_mels, config.audio_dim)
        self.encoding: nn.Module
        if config.encoding == "grid":
            self.encoding = GridEncoding(config.grid_levels, config.grid_features, aspect)
        elif config.encoding == "frequency":
            self.encoding = FrequencyEncoding(config.frequencies)
        else:
            raise ValueError(f"unknown coordinate encoding {config.encoding!r}")
        width = config.mlp_width
        time_dim = 2 * config.time_frequencies if config.use_time else 0
        if self.by_codes:
            cond_dim = config.mouth_components + time_dim
        else:
            cond_dim = config.audio_dim + time_dim + (config.sync_dim if config.expert_speech else 0)
        self.cond_dim = cond_dim
        self.in_xy = nn.Linear(self.encoding.dim, width)
        self.in_cond = nn.Linear(cond_dim, width)
        self.skip_at = config.mlp_depth // 2
        self.skip_xy = nn.Linear(self.encoding.dim, width)
        self.skip_cond = nn.Linear(cond_dim, width)
        self.layers = nn.ModuleList(
            nn.Linear(2 * width if k == self.skip_at else width, width) for k in range(1, config.mlp_depth)
        )
        self.out = nn.Linear(width, 3)
        if self.base is not None:  # G starts at zero: F starts as the base image
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def condition(
        self, mel: torch.Tensor, seconds: torch.Tensor, speech_code: torch.Tensor | None = None
    ) -> torch.Tensor:
        """(B, T, n_mels) speech windows, (B,) frame times and, with ``expert_speech``, (B, sync_dim) speech
        embeddings from the sync expert → (B, cond_dim)."""
        if self.audio is None:
            raise ValueError("this lip field is driven by mouth codes (condition_codes), not by speech")
        code = self.audio(mel)
        if self.config.expert_speech:
            if speech_code is None:
                raise ValueError("this lip field also needs the sync expert's speech code")
            code = torch.cat([code, speech_code.to(code.dtype)], dim=1)
        if self.config.use_time:
            code = torch.cat([code, time_code(seconds.to(code.dtype), self.config.time_frequencies)], dim=1)
        return code

    @property
    def appearance_size(self) -> int:
        """How many images the appearance basis has: one per code component and one per kernel."""
        return self.config.mouth_components + self.config.appearance_kernels

    def set_kernels(self, centres: torch.Tensor, width: float) -> None:
        """The (J, K) kernel centres in code space and their common width (std) (``code_kernels``)."""
        self.kernel_centres.copy_(centres)
        self.kernel_width.fill_(width)

    def appearance_features(self, codes: torch.Tensor) -> torch.Tensor:
        """(N, K) mouth codes → (N, K + J) weights of the appearance basis's images: the codes themselves,
        then each kernel's exp(−|c − μ_j|² / 2σ²)."""
        if self.config.appearance_kernels == 0:
            return codes
        d2 = (codes[:, None, :] - self.kernel_centres.to(codes.dtype)[None]).square().sum(dim=2)
        return torch.cat([codes, torch.exp(-d2 / (2 * self.kernel_width.to(codes.dtype) ** 2))], dim=1)

    def condition_codes(self, codes: torch.Tensor, seconds: torch.Tensor) -> torch.Tensor:
        """(B, K) mouth codes and (B,) frame times → (B, cond_dim) (``drive = "mouth"``)."""
        if not self.by_codes:
            raise ValueError("this lip field is driven by speech (condition), not by mouth codes")
        if self.config.use_time:
            return torch.cat([codes, time_code(seconds.to(codes.dtype), self.config.time_frequencies)], dim=1)
        return codes

    def forward(self, xy: torch.Tensor, cond: torch.Tensor, with_base: bool = True) -> torch.Tensor:
        """(B, P, 2) coordinates in [0, 1]², (B, cond_dim) → (B, P, 3) colours (about [0, 1]); with
        ``with_base`` off, only the MLP's part G (a field with a base image)."""
        enc = self.encoding(xy)
        h = F.relu(self.in_xy(enc) + self.in_cond(cond)[:, None, :])
        for k, layer in enumerate(self.layers, start=1):
            if k == self.skip_at:
                skip = self.skip_xy(enc) + self.skip_cond(cond)[:, None, :]
                h = torch.cat([h, skip], dim=-1)
            h = F.relu(layer(h))
        if self.base is None:
            return self.out(h) + 0.5
        if not with_base:
            return self.out(h)
        return self.out(h) + self.sample_base(xy, cond)

    def sample_base(self, xy: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """B at (N, P, 2) coordinates → (N, P, 3), plus the appearance basis weighted by the codes at the
        start of ``cond`` (N, cond_dim) when the field has one; pixel centres of B sit at (i + 0.5) / W."""
        assert self.base is not None
        grid = (2 * xy - 1).reshape(1, -1, 1, 2).to(self.base.dtype)
        out = F.grid_sample(self.base, grid, mode="bilinear", padding_mode="border", align_corners=False)
        base = out[0, :, :, 0].T.reshape(*xy.shape[:-1], 3)
        if self.appearance is None or cond is None:
            return base
        weights = self.appearance_features(cond[:, : self.config.mouth_components])
        basis = F.grid_sample(
            self.appearance, grid, mode="bilinear", padding_mode="border", align_corners=False
        )
        basis = basis[0, :, :, 0].reshape(self.appearance_size, 3, *xy.shape[:-1])  # (K + J, 3, N, P)
        return base + torch.einsum("nk,kcnp->npc", weights.to(basis.dtype), basis)

    def base_image(self, cond: torch.Tensor, width: int, height: int) -> torch.Tensor:
        """(B, 3, height, width): the base image and the codes' share of the appearance basis, resampled."""
        assert self.base is not None

        def resized(image: torch.Tensor) -> torch.Tensor:
            if image.shape[-2:] == (height, width):  # rendering at the base's own size (dubbing)
                return image
            return F.interpolate(
                image, size=(height, width), mode="bilinear", align_corners=False, antialias=True
            )

        base = resized(self.base).expand(len(cond), -1, -1, -1)
        if self.appearance is None:
            return base
        weights = self.appearance_features(cond[:, : self.config.mouth_components])
        basis = resized(self.appearance).reshape(self.appearance_size, 3, height, width)
        return base + torch.einsum("nk,kchw->nchw", weights.to(basis.dtype), basis)

    def render(self, cond: torch.Tensor, width: int, height: int) -> torch.Tensor:
        """(B, cond_dim) → (B, 3, height, width) lip images: one query per pixel centre, up to the training
        resolution; above it the MLP's part is upsampled and the base image read at full resolution."""
        batch = cond.shape[0]
        qw, qh = width, height
        if self.train_size is not None and width > self.train_size[0]:
            qw, qh = self.train_size
        xy = grid_queries(qw, qh, cond.device).expand(batch, -1, -1)
        if self.base is None:
            out = self.forward(xy, cond).transpose(1, 2).reshape(batch, 3, qh, qw)
            if (qw, qh) != (width, height):
                out = F.interpolate(out, size=(height, width), mode="bilinear", align_corners=False)
            return out
        change = self.forward(xy, cond, with_base=False).transpose(1, 2).reshape(batch, 3, qh, qw)
        if (qw, qh) != (width, height):
            change = F.interpolate(change, size=(height, width), mode="bilinear", align_corners=False)
        return self.base_image(cond, width, height) + change

    def render_continuous(
        self, cond: torch.Tensor, width: int, height: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """(B, cond_dim) → (B, 3, height, width) lip images for training, each pixel from 4 continuous
        samples (``continuous_samples``).

        With a base image, only the MLP's part G is sampled so; the base image and appearance basis enter
        resampled to this size with antialiasing, exactly as ``render`` shows them. Point samples of the
        full-resolution base would alias against targets that are area averages, and G would learn to undo
        the aliasing: a correction that ``render`` then adds to a base that never aliased (the dev clip's
        mouth came out over-sharpened: CPBD 0.37 against the footage's 0.16, BENCHMARKS.md)."""
        batch = cond.shape[0]
        corners, weights = continuous_samples(batch, width, height, generator, str(cond.device))
        rgb = self.forward(corners, cond, with_base=False).reshape(batch, height * width, 4, 3)
        out = (rgb * weights[..., None]).sum(dim=2).transpose(1, 2).reshape(batch, 3, height, width)
        if self.base is None:
            return out
        return out + self.base_image(cond, width, height)


def grid_queries(width: int, height: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(1, height·width, 2) pixel-centre coordinates in [0, 1]², row-major."""
    xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) / width
    ys = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) / height
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy], dim=-1).reshape(1, -1, 2)


def continuous_samples(
    batch: int, width: int, height: int, generator: torch.Generator | None = None, device: str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Continuous sampling (paper Eq. 2): for every pixel centre c a random rectangle containing c, inside
    the pixel's cell; its 4 corners are queried and averaged with the areas of the opposite sub-rectangles.

    Returns (B, P·4, 2) corner coordinates (corner-major within each pixel) and (B, P, 4) weights summing
    to 1. The weighted average is the bilinear interpolation at c of the 4 corner values, so the pixel
    supervises F at continuous positions around it, never only at the integer grid.
    """
    centres = grid_queries(width, height, device).expand(batch, -1, -1)  # (B, P, 2)
    cell = torch.tensor([1.0 / width, 1.0 / height], device=device)
    # distances from c to the rectangle's left/top and right/bottom sides, each up to half a cell
    near = torch.rand(batch, centres.shape[1], 2, generator=generator, device=device) * 0.5 * cell
    far = torch.rand(batch, centres.shape[1], 2, generator=generator, device=device) * 0.5 * cell
    lo, hi = (centres - near).clamp(0, 1), (centres + far).clamp(0, 1)
    corners = torch.stack(
        [
            lo,
            torch.stack([hi[..., 0], lo[..., 1]], dim=-1),
            torch.stack([lo[..., 0], hi[..., 1]], dim=-1),
            hi,
        ],
        dim=2,
    )  # (B, P, 4, 2): top-left, top-right, bottom-left, bottom-right
    dx_lo, dy_lo = (centres - lo).unbind(-1)
    dx_hi, dy_hi = (hi - centres).unbind(-1)
    # each corner's weight is the area of the sub-rectangle diagonally opposite it
    area = torch.stack([dx_hi * dy_hi, dx_lo * dy_hi, dx_hi * dy_lo, dx_lo * dy_lo], dim=-1) + 1e-12
    weights = area / area.sum(dim=-1, keepdim=True)
    return corners.reshape(batch, -1, 2), weights


def code_kernels(codes: np.ndarray, count: int, seed: int = 0) -> tuple[np.ndarray, float]:
    """``count`` kernel centres for the appearance basis from (M, K) training codes, by k-means (k-means++
    start, 20 Lloyd steps, seeded), and their common width by the median heuristic: σ² = half the median
    squared distance between two codes (so the width follows the data's spread, whatever the speaker)."""
    rng = np.random.default_rng(seed)
    x = np.asarray(codes, np.float64)
    sample = x[rng.choice(len(x), size=min(len(x), 2000), replace=False)]
    norms = (sample**2).sum(1)
    d2 = norms[:, None] + norms[None] - 2 * sample @ sample.T  # (S, S) without an (S, S, K) temporary
    width = (
        float(np.sqrt(max(np.median(d2[np.triu_indices(len(sample), 1)]), 0) / 2)) if len(sample) > 1 else 1.0
    )
    # always ``count`` centres (the basis has that many images): fewer frames than kernels repeat some
    centres = [x[rng.integers(len(x))]]
    nearest = ((x - centres[0]) ** 2).sum(1)
    for _ in range(1, count):  # k-means++: each next centre drawn by squared distance to the chosen ones
        total = nearest.sum()
        pick = rng.integers(len(x)) if total <= 0 else rng.choice(len(x), p=nearest / total)
        centres.append(x[pick])
        nearest = np.minimum(nearest, ((x - x[pick]) ** 2).sum(1))
    c = np.stack(centres)
    for _ in range(20):
        assign = ((x[:, None] - c[None]) ** 2).sum(-1).argmin(1)
        c = np.stack([x[assign == j].mean(0) if (assign == j).any() else c[j] for j in range(count)])
    return c.astype(np.float32), max(width, 1e-3)


def fit_appearance(
    features: np.ndarray,
    lips: np.ndarray,
    valid: np.ndarray,
    rest: np.ndarray,
    base: np.ndarray,
    ridge: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares appearance basis of a mouth-driven field: the (M, F) appearance weights of M training
    frames (``LipField.appearance_features`` of their codes), their (M, H, W, 3) uint8 lips and (M, H, W)
    validity, the (F,) weights of the resting code and the (3, H, W) [0, 1] base image (the canonical
    lips) → the (F, 3, H, W) basis A with lips ≈ base + Σ_f (w_f − rest_f) A_f, and the (3, H, W) base
    image B = base − Σ_f rest_f A_f that goes with it, so the resting code renders the canonical lips
    exactly. Ridge-regularised (``ridge`` × M); invalid pixels count as the base's."""
    m, k = features.shape
    x = (features - rest[None]).astype(np.float64)  # (M, F)
    gram = x.T @ x + ridge * m * 1e-3 * np.eye(k)
    xty = np.zeros((k, *base.shape), np.float64)
    for lo in range(0, m, 256):  # the lips stay on disk: a chunk at a time
        hi = min(m, lo + 256)
        y = np.asarray(lips[lo:hi], np.float32).transpose(0, 3, 1, 2) / 255.0 - base[None]
        y *= np.asarray(valid[lo:hi])[:, None]
        xty += np.einsum("mk,mchw->kchw", x[lo:hi], y)
    basis = np.linalg.solve(gram, xty.reshape(k, -1)).reshape(k, *base.shape).astype(np.float32)
    shifted = base - np.einsum("k,kchw->chw", rest.astype(np.float32), basis)
    return basis, shifted.astype(np.float32)
