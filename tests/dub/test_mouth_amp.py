"""``--mouth-amp``: the amplitude of the mouth around its resting code. A gain of 0 gives the resting mouth
whatever the speech says, and the option reaches the renderer from the command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from s2l_model.dub.footage import FootageTracks
from s2l_model.features.speech import array_reader
from s2l_model.media import iter_frames
from s2l_model.profile.speaker import SpeakerProfile
from s2l_model.render.batch import FaceLayer, RenderJob, SpeechFrames, render_frames
from s2l_model.render.compose import LipCompositor
from tests.support import assert_one_line_error, run_s2l

N = 10


def _render(profile: SpeakerProfile, footage: list[np.ndarray], samples: np.ndarray, amp: float):
    tracks = FootageTracks.from_profile(profile)
    compositor = LipCompositor.for_profile(
        profile, tracks.rotations[:N], tracks.translations[:N], mouth_amp=amp
    )
    speech = SpeechFrames(array_reader(samples), profile.fps, np.ones(N, np.float32), len(samples))
    job = RenderJob([FaceLayer(compositor, tracks.poses, tracks.usable[:N])], np.arange(N), speech)
    return [r.frame for r in render_frames(job, footage)]


def test_a_gain_of_zero_renders_the_resting_mouth_whatever_the_speech(
    tiny_profile: Path, tmp_path: Path
) -> None:
    profile = SpeakerProfile.load(tiny_profile)
    assert profile.model.mouth is not None  # a mouth-driven profile
    footage = list(iter_frames(profile.extract_footage(tmp_path), max_frames=N))
    rng = np.random.default_rng(0)
    loud = (0.3 * rng.standard_normal(N * 16000 // 25)).astype(np.float32)
    quiet = np.zeros_like(loud)
    rest_a = _render(profile, footage, loud, 0.0)
    rest_b = _render(profile, footage, quiet, 0.0)
    # the speech weight is forced to 1 above: only the gain can make these equal
    assert all(np.array_equal(a, b) for a, b in zip(rest_a, rest_b, strict=True))
    moved = _render(profile, footage, loud, 1.0)
    assert any(not np.array_equal(a, b) for a, b in zip(rest_a, moved, strict=True))
    louder = _render(profile, footage, loud, 2.0)
    diff1 = np.mean([np.abs(m.astype(float) - r).sum() for m, r in zip(moved, rest_a, strict=True)])
    diff2 = np.mean([np.abs(m.astype(float) - r).sum() for m, r in zip(louder, rest_a, strict=True)])
    assert diff2 > 1.3 * diff1  # twice the gain moves the picture further from rest


def test_mouth_amp_on_the_command_line(tiny_profile: Path, tmp_path: Path) -> None:
    from s2l_model.media import Speech, write_wav

    wav = write_wav(tmp_path / "line.wav", Speech(np.zeros(8000, np.float32), 16000))
    proc = run_s2l("dub", str(tiny_profile), str(wav), "-o", str(tmp_path / "out.mp4"), "--mouth-amp", "0")
    assert proc.returncode == 0, proc.stderr
    bad = run_s2l("dub", str(tiny_profile), str(wav), "-o", str(tmp_path / "bad.mp4"), "--mouth-amp", "-1")
    assert_one_line_error(bad, "--mouth-amp")
