"""The held-out protocol on a speaker profile: its footage's held-out frames (the end of the video, never
trained on) rendered from their own speech by the profile's renderer, compared with the real frames, and
scored by the profile's own sync expert. ``s2l profile build`` stores these figures in the profile;
``s2l evaluate SPEAKER.prof`` reports them in full.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from s2l_model.evaluate.compare import EvaluateConfig, Evaluation
from s2l_model.evaluate.heldout import add_expert_scores, evaluate_heldout
from s2l_model.media import MediaInfo
from s2l_model.profile.speaker import SpeakerProfile
from s2l_model.progress import StageFn
from s2l_model.render.renderer import ProfileRenderer


def evaluate_profile_heldout(
    profile: SpeakerProfile,
    footage: Path,
    config: EvaluateConfig,
    *,
    on_stage: StageFn | None = None,
    scratch: Path | None = None,
    info: MediaInfo | None = None,
) -> Evaluation:
    """Measure ``profile`` on its held-out frames of ``footage`` (its own video).

    The rendered and the cut-out frames are written to a temporary folder in ``scratch`` (the system's
    temporary folder by default) and removed afterwards, so the evaluation names them by what they were.
    ``info``: the footage's probe, where the caller has it already.
    """
    frames = profile.heldout
    renderer = ProfileRenderer(profile, footage, device=config.device, info=info)
    with tempfile.TemporaryDirectory(prefix="heldout-", dir=scratch) as tmp:
        evaluation = evaluate_heldout(
            footage, frames, renderer, Path(tmp), config=config, on_stage=on_stage, info=info
        )
        add_expert_scores(evaluation, profile, frames)
    span = f"frames {frames.start}-{frames.stop - 1}"
    evaluation.prediction = Path(f"{profile.path.name}: {span} rendered from their own speech")
    evaluation.reference = Path(f"{profile.path.name}: footage {span}")
    return evaluation


def evaluate_profile(path: Path, config: EvaluateConfig, *, on_stage: StageFn | None = None) -> Evaluation:
    """``s2l evaluate SPEAKER.prof``: load the profile, take its footage out, measure it on its held-out
    frames (``evaluate_profile_heldout``)."""
    speaker = SpeakerProfile.load(path, config.device)
    with tempfile.TemporaryDirectory(prefix="s2l-evaluate-") as tmp:
        footage = speaker.extract_footage(Path(tmp))
        return evaluate_profile_heldout(speaker, footage, config, on_stage=on_stage, scratch=Path(tmp))
