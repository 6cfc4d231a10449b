"""The built-in sample speaker: its ground truth is what a face tracker sees."""

from fractions import Fraction

import numpy as np
import pytest

from s2l_model.media import iter_frames, load_speech, probe_video
from s2l_model.sample import make_sample_speech, read_truth_csv, synthesize_speech
from s2l_model.sample.face import LOWER_LIP_INNER_MID, UPPER_LIP_INNER_MID


def _mesh_track(path):
    import mediapipe as mp

    points = []
    with mp.solutions.face_mesh.FaceMesh(
        static_image_mode=False, refine_landmarks=True, max_num_faces=1
    ) as mesh:
        for frame in iter_frames(path):
            result = mesh.process(frame)
            assert result.multi_face_landmarks, "face lost in the sample speaker"
            h, w = frame.shape[:2]
            points.append([[p.x * w, p.y * h] for p in result.multi_face_landmarks[0].landmark])
    return np.array(points)


def test_files_lengths_and_sync(sample_speaker):
    info = probe_video(sample_speaker.video)
    assert info.video.n_frames == sample_speaker.n_frames == 200 and info.video.fps == Fraction(25)
    assert (info.video.width, info.video.height) == (512, 512)
    truth = read_truth_csv(sample_speaker.truth)
    assert len(truth["frame"]) == 200
    assert load_speech(sample_speaker.speech).duration == pytest.approx(8.0, abs=1e-3)
    assert abs(info.duration - 8.0) <= 0.04


def test_mouth_opening_seen_by_face_mesh_follows_truth(sample_speaker):
    truth = read_truth_csv(sample_speaker.truth)
    points = _mesh_track(sample_speaker.video)
    opening = points[:, LOWER_LIP_INNER_MID, 1] - points[:, UPPER_LIP_INNER_MID, 1]
    r = np.corrcoef(opening, truth["opening_px"])[0, 1]
    assert r > 0.9, f"face-mesh mouth opening vs truth: r={r:.3f}"
    assert opening.max() - opening.min() > 8  # the mouth really moves (pixels at 512x512)
    # the head is still: eye corners barely move compared with the lips
    eyes = points[:, [33, 133, 362, 263]]
    assert eyes.std(axis=0).max() < 1.0


def test_truth_openness_follows_the_speech_energy():
    synth = synthesize_speech(12.0, seed=11)
    fps = Fraction(25)
    openness = synth.openness_at_frames(fps)
    samples = synth.speech.samples
    hop = 16000 // 25
    energy = np.array([np.sqrt(np.mean(samples[k * hop : (k + 1) * hop] ** 2)) for k in range(len(openness))])
    quiet = energy < 0.01 * energy.max()
    assert openness[quiet].mean() < 0.1 < openness[~quiet].mean()
    assert np.corrcoef(openness, energy)[0, 1] > 0.5


def test_same_seed_same_clip_other_seed_other_clip():
    a, b, c = synthesize_speech(3.0, seed=1), synthesize_speech(3.0, seed=1), synthesize_speech(3.0, seed=2)
    np.testing.assert_array_equal(a.speech.samples, b.speech.samples)
    assert not np.array_equal(a.speech.samples, c.speech.samples)


def test_new_speech_with_truth(tmp_path):
    synth, truth_path = make_sample_speech(
        tmp_path / "line.wav", seconds=5.0, seed=9, fps=Fraction(30000, 1001)
    )
    truth = read_truth_csv(truth_path)
    assert len(truth["frame"]) == round(5.0 * 30000 / 1001)
    np.testing.assert_allclose(truth["openness"], synth.openness_at_frames(Fraction(30000, 1001)), atol=1e-4)


def test_head_motion_option_moves_the_head(tmp_path):
    from s2l_model.sample import SampleConfig, make_sample_speaker

    out = make_sample_speaker(tmp_path, SampleConfig(seconds=2.0, head_motion=3.0), codec="ffv1")
    truth = read_truth_csv(out.truth)
    assert np.abs(truth["head_angle_deg"]).max() > 1.0
    frames = list(iter_frames(out.video))
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 2
