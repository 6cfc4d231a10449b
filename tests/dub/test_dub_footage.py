"""`track_footage` (`s2l dub --video`): other footage of a profile's speaker, posed in the profile's canonical
space. The profile's own video must come back with the profile's own tracks; a shifted or zoomed-out copy of
it (a "different shot" whose answer is known) must move the crops with the picture; bad footage and old
profiles are refused with one-line InputErrors."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from s2l_model.dub.footage import GEOMETRY_ARRAYS, FootageTracks, track_footage
from s2l_model.errors import InputError
from s2l_model.media import VideoWriter, iter_frames
from s2l_model.profile.speaker import SpeakerProfile
from s2l_model.sample import SampleOutputs
from s2l_model.tracking import poses
from tests.conftest import pattern_frame
from tests.pipelines.test_profile_build import TINY
from tests.support import run_s2l

# Tracking the profile's own video repeats the profile's own computation (same raw landmarks, same head
# model, camera and filter), so the poses agree to float32 rounding: measured 2e-7 degrees, 7e-5 in
# translation (head-model units, |t| up to 18) and identical origins, for the whole video and for cut ranges.
# The bounds leave room for the float32 head model and PnP's start (the chain of guesses restarts where a
# range starts), and still catch a range smoothed as if the video ended where it is cut (0.075 degrees).
OWN_ANGLE_DEG = 0.01
OWN_TRANSLATION = 1e-3
OWN_ORIGIN_PX = 1
# A re-encoded, resampled copy: both origins are rounded and the mesh sees interpolated pixels (measured at
# most 1.4 px for a 14/-9 px shift and 1.0 px for a 0.85x zoom-out).
MOVED_ORIGIN_PX = 2.0
# A range starting past the pose halo is tracked from a seek (frames before it are never decoded), so the
# face mesh's crop is placed afresh from a detection there: the mesh moves by a fraction of a pixel (mean
# 0.26 px on the sample speaker), which PnP turns into up to 1.13 degrees (the sample's poses span 1.2) and
# much of the depth; the crops stay within a pixel.
CUT_ANGLE_DEG = 1.5


@pytest.fixture(scope="module")
def profile(sample_speaker: SampleOutputs, tmp_path_factory: pytest.TempPathFactory) -> SpeakerProfile:
    """A tiny profile of the sample speaker (built once; no held-out check: nothing here needs it)."""
    folder = tmp_path_factory.mktemp("footage_profile")
    preset, out = folder / "tiny.toml", folder / "sample.prof"
    preset.write_text(TINY)
    proc = run_s2l(
        "profile", "build", str(sample_speaker.video), "-o", str(out), "--preset", str(preset),
        "--workdir", str(folder / "work"), "--no-eval",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return SpeakerProfile.load(out)


@pytest.fixture(scope="module")
def own(profile: SpeakerProfile, sample_speaker: SampleOutputs, tmp_path_factory: pytest.TempPathFactory):
    """The profile's own video tracked as if it were other footage."""
    return track_footage(sample_speaker.video, profile, workdir=tmp_path_factory.mktemp("own"))


def warped_copy(source: Path, path: Path, matrix: np.ndarray, n_frames: int) -> Path:
    """The first frames of ``source`` moved by a 2x3 affine ``matrix`` (same size): footage with a known
    answer (edges replicated, so no new borders look like a face edge)."""
    first = next(iter_frames(source, max_frames=1))
    height, width = first.shape[:2]
    with VideoWriter(
        path, fps=Fraction(25), size=(width, height), n_frames=n_frames, preset="ultrafast"
    ) as w:
        for frame in iter_frames(source, max_frames=n_frames):
            w.write(cv2.warpAffine(frame, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE))
    return path


def rotation_difference_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle (degrees) of the rotation between (N, 3, 3) rotations ``a`` and ``b``."""
    between = np.einsum("nji,njk->nik", a.astype(np.float64), b.astype(np.float64))
    return np.degrees(np.linalg.norm(Rotation.from_matrix(between).as_rotvec(), axis=1))


def assert_matches(got: FootageTracks, ref: FootageTracks, frames: slice, *, cut: bool = False) -> None:
    usable = ref.usable[frames]
    assert np.array_equal(got.usable, usable)
    angle = rotation_difference_deg(got.rotations[usable], ref.rotations[frames][usable])
    assert angle.max() < (CUT_ANGLE_DEG if cut else OWN_ANGLE_DEG), angle.max()
    shift = np.abs(got.translations[usable] - ref.translations[frames][usable]).max()
    assert cut or shift < OWN_TRANSLATION, shift
    assert np.abs(got.origins[usable] - ref.origins[frames][usable]).max() <= OWN_ORIGIN_PX


def one_line(exc: pytest.ExceptionInfo[InputError]) -> str:
    message = str(exc.value)
    assert message and "\n" not in message and "Traceback" not in message
    return message


def test_own_video_gives_the_profiles_own_tracks(own: FootageTracks, profile: SpeakerProfile) -> None:
    ref = FootageTracks.from_profile(profile)
    assert own.n_frames == ref.n_frames == 200
    assert own.fps == ref.fps and own.size == ref.size == (512, 512)
    assert own.usable.all()
    assert own.rotations.dtype == np.float32 and own.origins.dtype == np.int32
    assert_matches(own, ref, slice(None))
    # The canonical frame itself is the identity: no motion relative to the canonical view.
    c = profile.manifest.canonical_frame
    assert rotation_difference_deg(own.rotations[c : c + 1], np.eye(3)[None])[0] < OWN_ANGLE_DEG
    assert np.abs(own.translations[c]).max() < OWN_TRANSLATION


def test_start_and_max_frames_select_the_frames(
    own: FootageTracks, profile: SpeakerProfile, sample_speaker: SampleOutputs, tmp_path: Path
) -> None:
    part = track_footage(sample_speaker.video, profile, workdir=tmp_path / "a", start_frame=50, max_frames=40)
    assert part.n_frames == 40
    assert_matches(part, own, slice(50, 90), cut=True)
    tail = track_footage(
        sample_speaker.video, profile, workdir=tmp_path / "b", start_frame=190, max_frames=50
    )
    assert tail.n_frames == 10  # cut at the end of the video
    assert_matches(tail, own, slice(190, 200), cut=True)
    with pytest.raises(InputError) as exc:
        track_footage(sample_speaker.video, profile, workdir=tmp_path / "c", start_frame=200)
    assert "start frame 200 is beyond the end" in one_line(exc) and "200 frames" in str(exc.value)


def test_blocks_join_without_seams(
    own: FootageTracks,
    profile: SpeakerProfile,
    sample_speaker: SampleOutputs,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Long footage is posed a block at a time (512 frames); small blocks here give the same answer.
    monkeypatch.setattr(poses, "BLOCK_FRAMES", 48)
    blocks = track_footage(sample_speaker.video, profile, workdir=tmp_path, start_frame=20, max_frames=150)
    assert_matches(blocks, own, slice(20, 170))


def test_shifted_footage_moves_the_crops_with_the_face(
    own: FootageTracks, profile: SpeakerProfile, sample_speaker: SampleOutputs, tmp_path: Path
) -> None:
    dx, dy = 14, -9
    video = warped_copy(
        sample_speaker.video, tmp_path / "shift.mp4", np.float32([[1, 0, dx], [0, 1, dy]]), 100
    )
    moved = track_footage(video, profile, workdir=tmp_path / "work")
    assert moved.usable.all()
    error = moved.origins - own.origins[:100] - np.array([dx, dy])
    assert np.abs(error).max() <= MOVED_ORIGIN_PX, np.abs(error).max()


def test_zoomed_out_footage_scales_the_crop_positions(
    own: FootageTracks, profile: SpeakerProfile, sample_speaker: SampleOutputs, tmp_path: Path
) -> None:
    s, c = 0.85, (512 - 1) / 2  # zoom about the frame centre (the profile camera's principal point)
    video = warped_copy(
        sample_speaker.video, tmp_path / "zoom.mp4", np.float32([[s, 0, c - s * c], [0, s, c - s * c]]), 60
    )
    small = track_footage(video, profile, workdir=tmp_path / "work")
    assert small.usable.all()
    half = np.array(profile.model.layout.crop_size) / 2
    expected = c + s * (own.origins[:60] + half - c) - half  # the crop centre scales with the picture
    assert np.abs(small.origins - expected).max() <= MOVED_ORIGIN_PX
    # A smaller face is further away: the relative pose pushes the head back (positive z in camera space).
    assert np.median(small.translations[:, 2] - own.translations[:60, 2]) > 0


def test_a_face_larger_than_the_profiles_crop_is_refused(
    profile: SpeakerProfile, sample_speaker: SampleOutputs, tmp_path: Path
) -> None:
    s, c = 1.3, (512 - 1) / 2
    video = warped_copy(
        sample_speaker.video, tmp_path / "zoom.mp4", np.float32([[s, 0, c - s * c], [0, s, c - s * c]]), 20
    )
    with pytest.raises(InputError) as exc:
        track_footage(video, profile, workdir=tmp_path / "work")
    assert "fits the profile's crop in only 0 of 20 frames" in one_line(exc)


def test_footage_without_a_face_is_refused(
    profile: SpeakerProfile, make_video: Callable[..., Path], tmp_path: Path
) -> None:
    video = make_video("pattern_512.mp4", 20, Fraction(25), size=(512, 512))
    with pytest.raises(InputError) as exc:
        track_footage(video, profile, workdir=tmp_path)
    assert "no face found in pattern_512.mp4" in one_line(exc)


def test_a_face_in_too_few_frames_is_refused(
    profile: SpeakerProfile, sample_speaker: SampleOutputs, tmp_path: Path
) -> None:
    video = tmp_path / "mostly_pattern.mp4"
    with VideoWriter(video, fps=Fraction(25), size=(512, 512), n_frames=60, preset="ultrafast") as w:
        for frame in iter_frames(sample_speaker.video, max_frames=15):
            w.write(frame)
        for k in range(15, 60):
            w.write(pattern_frame(k, 512, 512))
    with pytest.raises(InputError) as exc:
        track_footage(video, profile, workdir=tmp_path / "work")
    assert "the face is seen in only 15 of 60 frames 0-59 of mostly_pattern.mp4" in one_line(exc)


def test_other_resolutions_are_refused_naming_both(
    profile: SpeakerProfile, make_video: Callable[..., Path], tmp_path: Path
) -> None:
    video = make_video("small.mp4", 5, Fraction(25), size=(96, 64))
    with pytest.raises(InputError) as exc:
        track_footage(video, profile, workdir=tmp_path)
    message = one_line(exc)
    assert "96x64" in message and "512x512" in message and "resolution" in message


@pytest.mark.parametrize("kind", ["text", "audio", "missing"])
def test_files_that_are_not_video_are_refused(
    kind: str, profile: SpeakerProfile, sample_speaker: SampleOutputs, tmp_path: Path
) -> None:
    path = {"text": tmp_path / "notes.mp4", "audio": sample_speaker.speech, "missing": tmp_path / "gone.mp4"}[
        kind
    ]
    if kind == "text":
        path.write_text("not a video\n")
    with pytest.raises(InputError) as exc:
        track_footage(path, profile, workdir=tmp_path / "work")
    one_line(exc)


def test_a_profile_from_an_older_s2l_is_refused(
    profile: SpeakerProfile, sample_speaker: SampleOutputs, tmp_path: Path
) -> None:
    for missing in GEOMETRY_ARRAYS:
        arrays = {k: v for k, v in profile.arrays.items() if k != missing}
        old = dataclasses.replace(profile, arrays=arrays)
        with pytest.raises(InputError) as exc:
            track_footage(sample_speaker.video, old, workdir=tmp_path)
        message = one_line(exc)
        assert "sample.prof was built by an older s2l" in message and "rebuild it" in message
    assert not (tmp_path / "landmarks_raw.npy").exists()  # refused before any decoding
