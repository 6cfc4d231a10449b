"""`s2l dub` end to end on the built-in sample speaker: the mouth follows new speech, the picture outside the
blend region is the footage's, frame counts and audio are exact at 25 and 29.97 fps, silence keeps the mouth
closed and still, and bad input gets one line."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from s2l_model.dub.background import plan_schedule
from s2l_model.dub.footage import FootageTracks
from s2l_model.features.speech import array_reader
from s2l_model.media import (
    Speech,
    VideoWriter,
    estimate_offset,
    iter_frames,
    load_speech,
    probe_video,
    write_wav,
)
from s2l_model.profile.speaker import SpeakerProfile
from s2l_model.render.batch import FaceLayer, RenderJob, SpeechFrames, cross_fade, render_frames
from s2l_model.render.compose import FramePoses, LipCompositor
from s2l_model.sample import SampleConfig, make_sample_speaker
from s2l_model.sample.generate import make_sample_speech, read_truth_csv
from s2l_model.tracking.refine import mouth_opening
from s2l_model.tracking.store import read_rows
from s2l_model.tracking.track import track_video
from tests.conftest import TINY_PRESET, build_profile_cli
from tests.support import assert_one_line_error, run_s2l

NTSC = Fraction(30000, 1001)


@pytest.fixture(scope="module")
def tiny_ntsc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny profile of a 29.97 fps sample speaker whose head sways (its lips are untrained: for geometry,
    timing and background motion)."""
    folder = tmp_path_factory.mktemp("ntsc")
    sample = make_sample_speaker(folder, SampleConfig(seconds=6.0, fps=NTSC, seed=5, head_motion=4.0))
    return build_profile_cli(sample.video, folder, TINY_PRESET, "--no-eval")


def mouth_openings(video: Path, workdir: Path) -> np.ndarray:
    """Face-mesh mouth opening (inner-lip gap / mouth width) of every frame of ``video``."""
    workdir.mkdir(parents=True, exist_ok=True)
    track = track_video(video, workdir)
    return mouth_opening(read_rows(track.landmarks_path, 0, track.n_frames))


def dub(profile: Path, speech: Path, out: Path, *extra: str) -> dict:
    proc = run_s2l("dub", str(profile), str(speech), "-o", str(out), "--json", *extra)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert {e["event"] for e in events} <= {"progress", "result"}  # --json: JSON lines only on stdout
    assert "dubbing" in {e.get("stage") for e in events}
    return events[-1]


# ------------------------------------------------------------------------------------------ sync (trained)


def test_mouth_follows_new_speech(trained_sample_profile: Path, tmp_path: Path) -> None:
    """A speech signal the profile never heard: the output's mouth opening, measured with the face mesh,
    follows the speech's known articulatory opening."""
    wav = tmp_path / "new.wav"
    _, truth_csv = make_sample_speech(wav, seconds=10.0, seed=11)
    out = tmp_path / "new.mp4"
    result = dub(trained_sample_profile, wav, out)
    truth = read_truth_csv(truth_csv)["openness"]
    opening = mouth_openings(out, tmp_path / "track")
    n = min(len(truth), len(opening))
    assert result["frames"] == len(truth) == len(opening)
    ok = np.isfinite(opening[:n])
    r = float(np.corrcoef(opening[:n][ok], truth[:n][ok])[0, 1])
    assert r >= 0.8, f"mouth opening vs. truth: r = {r:.3f}"


def test_silence_keeps_the_mouth_closed_and_still(trained_sample_profile: Path, tmp_path: Path) -> None:
    silent = write_wav(tmp_path / "silence.wav", Speech(np.zeros(3 * 16000, np.float32), 16000))
    out = tmp_path / "silence.mp4"
    result = dub(trained_sample_profile, silent, out)
    assert any("silent" in note for note in result["notes"])
    opening = mouth_openings(out, tmp_path / "silence_track")
    profile = SpeakerProfile.load(trained_sample_profile)
    trained = profile.arrays["mouth_open"][profile.arrays["usable"].astype(bool)]
    neutral = float(np.percentile(trained, 10))  # the profile's closed mouth
    assert np.nanmax(opening) <= neutral + 0.03, (np.nanmax(opening), neutral)
    # and still: it moves much less than with speech
    wav = tmp_path / "speech.wav"
    make_sample_speech(wav, seconds=3.0, seed=12)
    dub(trained_sample_profile, wav, tmp_path / "speech.mp4")
    speaking = mouth_openings(tmp_path / "speech.mp4", tmp_path / "speech_track")
    assert np.nanstd(opening) < 0.25 * np.nanstd(speaking)


# ------------------------------------------------------------------------------------------ geometry, timing


@pytest.mark.parametrize("which", ["25", "29.97"])
def test_lossless_output_keeps_every_pixel_outside_the_blend_region(
    which: str, tiny_profile: Path, tiny_ntsc: Path, tmp_path: Path
) -> None:
    """FFV1 output: frame count = round(duration × fps) exactly; outside each frame's composition window
    (which holds the blend region) every pixel equals the footage's; the speech is muxed in sync."""
    profile_path = tiny_profile if which == "25" else tiny_ntsc
    rng = np.random.default_rng(3)
    seconds = 2.37  # not a whole number of frames at either rate
    samples = (0.2 * rng.standard_normal(round(seconds * 44100))).astype(np.float32)
    speech = write_wav(tmp_path / "noise.wav", Speech(samples, 44100))  # a rate the model does not use
    out = tmp_path / "out.mkv"
    result = dub(profile_path, speech, out)
    profile = SpeakerProfile.load(profile_path)
    fps = profile.fps
    expected = round(Fraction(len(samples), 44100) * fps)
    info = probe_video(out)
    assert info.video is not None and info.video.n_frames == expected == result["frames"]
    assert (info.video.width, info.video.height) == (profile.manifest.width, profile.manifest.height)

    # the footage frames behind each output frame, and the windows the compositor may change
    tracks = FootageTracks.from_profile(profile)
    schedule = plan_schedule(
        "loop", usable=tracks.usable, footage_fps=fps, out_fps=fps, n_out=expected, start_frame=0,
        thumbnails_of=lambda first, count: np.zeros((count, 2, 2)),
    )  # fmt: skip
    index = schedule.frames(0, expected)
    compositor = LipCompositor(
        profile.model, tracks.rotations[tracks.usable], tracks.translations[tracks.usable], rest_seconds=0.0
    )
    poses = FramePoses(tracks.rotations[index], tracks.translations[index], np.zeros(len(index)))
    corners, (w, h) = compositor.windows(poses)
    footage = list(iter_frames(profile.extract_footage(tmp_path)))
    changed = 0
    for k, frame in enumerate(iter_frames(out)):
        source = footage[index[k]]
        outside = np.ones(frame.shape[:2], bool)
        x, y = corners[k]
        outside[y : y + h, x : x + w] = False
        assert np.array_equal(frame[outside], source[outside]), f"frame {k}"
        changed += int((frame != source).any())
    assert changed > expected // 2  # and the lips were re-rendered

    # audio: same length as the video, and in sync with the speech (cross-correlation)
    muxed = load_speech(out)
    original = load_speech(speech)
    assert abs(muxed.duration - expected / fps) < 0.03
    offset = estimate_offset(original.samples, muxed.samples, 16000)
    assert abs(offset) <= 0.010, f"audio offset {offset * 1000:.1f} ms"


def test_render_frames_batches_layers_and_passes_untracked_frames_through(
    tiny_profile: Path, tmp_path: Path
) -> None:
    """The one render loop: frames whose face is not live come back as they were (the same array, no
    region); a weighted layer is the cross-fade of the full render inside its region; progress comes after
    each fixed batch; fewer sources give fewer frames."""
    profile = SpeakerProfile.load(tiny_profile)
    tracks = FootageTracks.from_profile(profile)
    n = 12
    footage = list(iter_frames(profile.extract_footage(tmp_path), max_frames=n))
    samples = (0.2 * np.random.default_rng(4).standard_normal(n * 16000 // 25)).astype(np.float32)
    speech = SpeechFrames.gated(array_reader(samples), n, profile.fps, 16000, len(samples))
    compositor = LipCompositor.for_profile(profile, tracks.rotations[:n], tracks.translations[:n])
    live = tracks.usable[:n].copy()
    live[[1, 6]] = False
    assert live.sum() >= 6

    def job(weights: np.ndarray | None) -> RenderJob:
        layer = FaceLayer(compositor, tracks.poses, live, weights)
        return RenderJob([layer], footage=np.arange(n), speech=speech, batch=5)

    progress: list[tuple[int, int]] = []
    full = list(
        render_frames(job(None), footage, on_batch=lambda done, total: progress.append((done, total)))
    )
    assert progress == [(5, n), (10, n), (12, n)]
    half = list(render_frames(job(np.full(n, 0.5, np.float32)), footage))
    for k in range(n):
        if not live[k]:
            assert full[k].frame is footage[k] and not full[k].region.any()
            continue
        region = full[k].region
        assert region.any() and np.array_equal(full[k].frame[~region], footage[k][~region])
        assert np.array_equal(half[k].frame, cross_fade(footage[k], full[k].frame, region, 0.5))
    assert len(list(render_frames(job(None), footage[:7]))) == 7


def test_background_modes_and_start(tiny_ntsc: Path, tmp_path: Path) -> None:
    """Speech longer than the footage: pingpong turns without a jump; hold shows one frame; --start moves
    the background; every mode gives the exact frame count."""
    profile = SpeakerProfile.load(tiny_ntsc)
    n_footage = profile.n_frames
    seconds = 1.5 * n_footage / float(profile.fps)
    speech = write_wav(
        tmp_path / "long.wav",
        Speech(
            (0.1 * np.random.default_rng(0).standard_normal(round(seconds * 16000))).astype(np.float32), 16000
        ),
    )
    expected = round(seconds * profile.fps)
    footage = list(iter_frames(profile.extract_footage(tmp_path)))
    # rows above every frame's composition window: the footage's own pixels in any output
    tracks = FootageTracks.from_profile(profile)
    compositor = LipCompositor(profile.model, tracks.rotations, tracks.translations, rest_seconds=0.0)
    poses = FramePoses(tracks.rotations, tracks.translations, np.zeros(n_footage))
    rows = int(compositor.windows(poses)[0][:, 1].min())
    assert rows >= 40
    ref = [f.astype(np.int16)[:rows] for f in footage]

    def top(path: Path) -> list[np.ndarray]:
        return [f.astype(np.int16)[:rows] for f in iter_frames(path)]

    out = tmp_path / "pingpong.mkv"
    r = dub(tiny_ntsc, speech, out, "--background", "pingpong")
    assert r["frames"] == expected and r["background"] == "pingpong"
    frames = top(out)
    assert len(frames) == expected
    matches = [
        int(np.argmin([np.abs(f - g).mean() for g in ref])) for f in frames[n_footage - 3 : n_footage + 3]
    ]
    assert matches == [
        n_footage - 3,
        n_footage - 2,
        n_footage - 1,
        n_footage - 2,
        n_footage - 3,
        n_footage - 4,
    ]

    # --end: the background turns before it, never reaching it
    r = dub(tiny_ntsc, speech, tmp_path / "end.mkv", "--background", "pingpong", "--end", "2.0")
    end_frame = round(2.0 * profile.fps)
    assert r["footage_frames"] == [0, end_frame - 1]
    frames = top(tmp_path / "end.mkv")
    matches = [int(np.argmin([np.abs(f - g).mean() for g in ref])) for f in frames]
    assert max(matches) == end_frame - 1 and matches[end_frame] == end_frame - 2

    out = tmp_path / "hold.mkv"
    r = dub(tiny_ntsc, speech, out, "--background", "hold", "--start", "1.0")
    frames = top(out)
    start = round(1.0 * profile.fps)
    assert r["footage_frames"] == [start, start]
    assert all(np.array_equal(f, ref[start]) for f in frames)


def test_dub_onto_other_footage(tiny_ntsc: Path, tmp_path: Path) -> None:
    """--video: footage tracked on the fly (here a re-encode of the speaker's clip, cut to start 1 s later,
    so its frame k is the profile's frame k + 30), played from --start, at the profile's frame rate."""
    profile = SpeakerProfile.load(tiny_ntsc)
    footage = profile.extract_footage(tmp_path)
    other = tmp_path / "other.mkv"
    frames = list(iter_frames(footage))[30:]
    with VideoWriter(other, fps=profile.fps, size=(512, 512), codec="ffv1", n_frames=len(frames)) as w:
        for frame in frames:
            w.write(frame)
    samples = (0.1 * np.random.default_rng(2).standard_normal(16000 * 2)).astype(np.float32)
    speech = write_wav(tmp_path / "s.wav", Speech(samples, 16000))
    out = tmp_path / "out.mkv"
    result = dub(tiny_ntsc, speech, out, "--video", str(other), "--start", "0.5")
    start = round(0.5 * profile.fps)
    assert result["frames"] == round(2 * profile.fps) and result["footage_frames"][0] == start
    # rows above the lower face are the other footage's own frames, in order from --start
    for k, frame in enumerate(iter_frames(out)):
        assert np.array_equal(frame[:40], frames[start + k][:40]), k


# ------------------------------------------------------------------------------------------ bad input


def test_bad_input_is_one_line(tiny_profile: Path, tmp_path: Path, make_video) -> None:
    out = str(tmp_path / "o.mp4")
    empty = write_wav(tmp_path / "empty.wav", Speech(np.zeros(0, np.float32), 16000))
    assert_one_line_error(run_s2l("dub", str(tiny_profile), str(empty), "-o", out), "empty.wav")
    corrupt = tmp_path / "corrupt.mp3"
    corrupt.write_bytes(np.random.default_rng(0).bytes(5000))
    assert_one_line_error(run_s2l("dub", str(tiny_profile), str(corrupt), "-o", out), "corrupt.mp3")
    speech = write_wav(tmp_path / "s.wav", Speech(np.zeros(8000, np.float32), 16000))
    garbage = tmp_path / "garbage.prof"
    garbage.write_bytes(b"not a zip file at all")
    assert_one_line_error(run_s2l("dub", str(garbage), str(speech), "-o", out), "garbage.prof")
    faceless = make_video("faceless.mp4", 30, Fraction(25), size=(512, 512))
    assert_one_line_error(
        run_s2l("dub", str(tiny_profile), str(speech), "-o", out, "--video", str(faceless)), "face"
    )
    assert_one_line_error(
        run_s2l("dub", str(tiny_profile), str(speech), "-o", out, "--start", "999"), "beyond"
    )
    existing = tmp_path / "exists.mp4"
    existing.write_bytes(b"keep me")
    assert_one_line_error(run_s2l("dub", str(tiny_profile), str(speech), "-o", str(existing)), "--force")
    assert existing.read_bytes() == b"keep me"
    assert not list(tmp_path.glob(".*.part*"))  # nothing half-written left behind
