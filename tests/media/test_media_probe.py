from fractions import Fraction

import pytest

from s2l_model.errors import InputError
from s2l_model.media import parse_fps, probe, probe_video


def test_probe_dev_clips(cnn_anchor, may_clip):
    cnn = probe(cnn_anchor)
    assert cnn.video is not None and cnn.video.fps == Fraction(25)
    assert (cnn.video.width, cnn.video.height) == (512, 512)
    assert cnn.video.n_frames == 1779
    assert cnn.audio[0].codec.startswith("mp3") and cnn.audio[0].sample_rate == 44100
    may = probe(may_clip)
    assert may.video is not None and may.video.n_frames == 125
    assert may.audio[0].codec == "aac" and may.audio[0].sample_rate == 48000 and may.audio[0].channels == 2


def test_ntsc_rate_stays_a_fraction(make_video):
    path = make_video("ntsc.mp4", 30, Fraction(30000, 1001))
    info = probe_video(path)
    assert info.video.fps == Fraction(30000, 1001)  # not 29.97, not 30
    assert info.video.n_frames == 30
    assert info.video.duration == pytest.approx(30 * 1001 / 30000, abs=1e-3)


def test_rotation_is_reported_and_size_is_as_displayed(make_video, tmp_path):
    import subprocess

    from s2l_model.media import ffmpeg_exe

    src = make_video("upright.mp4", 5, Fraction(25), size=(96, 64))
    rotated = tmp_path / "rotated.mp4"
    subprocess.run(
        [
            ffmpeg_exe(),
            "-loglevel",
            "error",
            "-display_rotation",
            "90",
            "-i",
            str(src),
            "-c",
            "copy",
            str(rotated),
        ],
        check=True,
    )
    info = probe(rotated)
    assert info.video.rotation == 90
    assert (info.video.width, info.video.height) == (64, 96)
    assert (info.video.coded_width, info.video.coded_height) == (96, 64)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("25", Fraction(25)),
        ("29.97", Fraction(30000, 1001)),
        ("23.976", Fraction(24000, 1001)),
        ("30000/1001", Fraction(30000, 1001)),
        ("50", Fraction(50)),
        ("12.5", Fraction(25, 2)),
    ],
)
def test_parse_fps(text, expected):
    assert parse_fps(text) == expected


@pytest.mark.parametrize("text", ["abc", "0", "1/0", "-25", "1000"])
def test_parse_fps_rejects(text):
    with pytest.raises(InputError):
        parse_fps(text)


def test_audio_only_file_has_no_video(german_clip):
    info = probe(german_clip)
    assert info.video is None and info.audio[0].channels == 2
    with pytest.raises(InputError, match="not a video"):
        probe_video(german_clip)
