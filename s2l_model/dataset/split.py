"""The train / held-out split of a speaker's video: the paper trains on the first 90 % of each video and
evaluates on the last 10 %."""

from __future__ import annotations

from s2l_model.errors import InputError


def heldout_range(n_frames: int, fraction: float) -> range:
    """The last ``fraction`` of the frames (at least one), as the paper's 90/10 split holds out."""
    if not 0 < fraction < 1:
        raise InputError(f"held-out fraction must be between 0 and 1, got {fraction}")
    count = max(1, round(n_frames * fraction))
    return range(n_frames - count, n_frames)
