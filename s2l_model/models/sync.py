"""The speaker's own sync expert (paper Sec. 4.4; its contrastive loss, Eq. 6, is in ``models.losses``).

Wav2Lip's pretrained expert cannot be downloaded here (SPEC §1), so the expert is trained first on the
speaker's own video: a window of ``sync_frames`` grey canonical mouth images against the speech around the
window's centre. Positives are aligned pairs; negatives are the other moments in the batch and the same
speech against the mouth shifted by a few frames (the hard negatives that teach timing). Both embeddings
are unit vectors, compared by cosine similarity; the loss is InfoNCE with a learned temperature.

Eq. 6 then uses the frozen expert on generated mouths: the generated window must be closer to its own
speech than to the speech of other moments and of shifted times.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from s2l_model.dataset.batches import LUMA
from s2l_model.fields.lip import MelNorm


def _conv(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.BatchNorm2d(cout), nn.ReLU())


class SyncExpert(nn.Module):
    def __init__(self, frames: int, dim: int, n_mels: int = 80) -> None:
        super().__init__()
        self.frames = frames
        self.visual = nn.Sequential(
            _conv(frames, 32, 2), _conv(32, 32, 1), _conv(32, 64, 2), _conv(64, 96, 2), _conv(96, 128, 2)
        )
        self.visual_head = nn.Linear(128, dim)
        self.audio_norm = MelNorm(n_mels)
        self.audio = nn.Sequential(
            nn.Conv1d(n_mels, 96, 3, padding=1),
            nn.ReLU(),
            nn.Conv1d(96, 96, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv1d(96, 128, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.audio_head = nn.Linear(128, dim)
        self.log_scale = nn.Parameter(torch.tensor(2.3))  # cosine → logits scale, about 1/0.1 at start

    def embed_mouth(self, mouths: torch.Tensor) -> torch.Tensor:
        """(B, frames, h, w) grey mouths in [0, 1] → (B, dim) unit vectors."""
        h = self.visual(mouths - 0.5).mean(dim=(2, 3))
        return F.normalize(self.visual_head(h), dim=1)

    def embed_speech(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, T, n_mels) log-mel → (B, dim) unit vectors."""
        h = self.audio(self.audio_norm(mel).transpose(1, 2)).mean(dim=2)
        return F.normalize(self.audio_head(h), dim=1)

    def embed_speech_sets(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, K, T, n_mels) K speech windows per row (the shifted negatives) → (B, K, dim), in one batch."""
        return self.embed_speech(mel.reshape(-1, *mel.shape[2:])).reshape(*mel.shape[:2], -1)

    def embed_lips(self, lips: torch.Tensor) -> torch.Tensor:
        """(B, frames, 3, h, w) generated colour lips (about [0, 1]) → (B, dim), greyed as real mouths are."""
        return self.embed_mouth(grey(lips.clamp(0, 1)))

    @property
    def scale(self) -> torch.Tensor:
        return self.log_scale.exp().clamp(1.0, 100.0)


def grey(rgb: torch.Tensor) -> torch.Tensor:
    """(..., 3, h, w) → (..., h, w) luma."""
    return LUMA[0] * rgb[..., 0, :, :] + LUMA[1] * rgb[..., 1, :, :] + LUMA[2] * rgb[..., 2, :, :]
