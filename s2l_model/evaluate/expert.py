"""The profile's own sync expert as a sync score (a per-speaker proxy: SyncNet's weights cannot be
downloaded here, SPEC §2).

Each frame of a video of the profile's footage is warped O2C into the canonical lip box (the profile's
poses and learned depth), turned into the expert's grey mouth image, and windows of ``sync_frames`` images
are embedded; the speech under the video gives the expert's speech embeddings. The curve is the mean cosine
similarity between the mouth window at t and the speech at t + k, k = -15 … 15 frames; the score is its value
at k = 0, the offset its peak, the confidence the peak minus the median (as SyncNet's LSE-C).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
import torch.nn.functional as F

from s2l_model.dataset.trainset import sync_mel_config
from s2l_model.features.speech import speech_windows
from s2l_model.geometry.crop import Rect, canonical_to_observed, pixel_centres, sample_image
from s2l_model.media import Speech
from s2l_model.metrics.sync import MAX_OFFSET, SyncScore, summarise_curve
from s2l_model.models.sync import grey
from s2l_model.profile.speaker import SpeakerProfile

LABEL = "expert"


@torch.no_grad()
def canonical_mouths(profile: SpeakerProfile, frames: Iterable[tuple[int, np.ndarray]]) -> np.ndarray:
    """(n, sh, sw) grey canonical mouths of (footage index, RGB frame) pairs; NaN where unusable."""
    model = profile.model
    layout = model.layout
    sw, sh = layout.sync_size
    a = profile.arrays
    lip = pixel_centres(layout.lip_box, layout.lip_box.width, layout.lip_box.height)
    depth = model.depth(lip.reshape(1, -1, 2))
    out = []
    for index, frame in frames:
        if not a["usable"][index]:
            out.append(np.full((sh, sw), np.nan, np.float32))
            continue
        rot = torch.from_numpy(a["rotations"][index : index + 1])
        trans = torch.from_numpy(a["translations"][index : index + 1])
        observed, _ = canonical_to_observed(lip.reshape(1, -1, 2), depth, layout.camera, rot, trans)
        image = torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255.0
        rect = Rect(0, 0, frame.shape[1], frame.shape[0])
        crop = sample_image(image, observed, rect).reshape(1, 3, layout.lip_box.height, layout.lip_box.width)
        small = F.interpolate(crop, size=(sh, sw), mode="area")
        out.append(grey(small)[0].numpy())
    return np.stack(out) if out else np.zeros((0, sh, sw), np.float32)


@torch.no_grad()
def expert_sync(
    profile: SpeakerProfile, mouths: np.ndarray, speech: Speech, name: str, max_offset: int = MAX_OFFSET
) -> SyncScore:
    """Sync score of ``mouths`` (from ``canonical_mouths``) against ``speech`` (starting at the first)."""
    model = profile.model
    frames = model.config.sync_frames
    half = frames // 2
    n = len(mouths)
    curve = np.full(2 * max_offset + 1, np.nan)
    centres = [c for c in range(half, n - half) if np.isfinite(mouths[c - half : c + half + 1]).all()]
    if len(centres) < 3:
        return SyncScore(name, float("nan"), 0, float("nan"), curve)
    windows = torch.from_numpy(np.stack([mouths[c - half : c + half + 1] for c in centres]))
    visual = model.expert.embed_mouth(windows)
    mel = speech_windows(speech, profile.fps, n, sync_mel_config(profile.fps, frames))
    audio = model.expert.embed_speech(torch.from_numpy(mel))
    sims = (visual @ audio.T).numpy()  # (len(centres), n)
    rows = np.array(centres)
    for i, k in enumerate(range(-max_offset, max_offset + 1)):
        cols = rows + k
        keep = (cols >= 0) & (cols < n)
        if keep.sum() >= 3:
            curve[i] = float(sims[np.flatnonzero(keep), cols[keep]].mean())
    return summarise_curve(name, curve, max_offset)
