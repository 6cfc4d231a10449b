"""Decoding is a stream, encoding is atomic."""

from fractions import Fraction

import numpy as np
import pytest

from s2l_model.errors import InputError, ProcessingError
from s2l_model.media import VideoWriter, atomic_output, iter_frames
from s2l_model.media.atomic import current_umask
from tests.conftest import pattern_frame


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name)


def test_frames_come_in_order_and_early_stop_ends_ffmpeg(make_video):
    src = make_video("ordered.mkv", 40, Fraction(25), codec="ffv1")
    gen = iter_frames(src)
    for k in range(5):
        frame = next(gen)
        np.testing.assert_array_equal(frame, pattern_frame(k, 96, 64))
        assert frame.flags.writeable
    gen.close()  # must not hang or leave ffmpeg running


def test_start_seeks_to_the_right_frame(make_video):
    src = make_video("seek.mkv", 50, Fraction(25), codec="ffv1")
    first = next(iter_frames(src, start=1.0))
    np.testing.assert_array_equal(first, pattern_frame(25, 96, 64))


def test_failure_while_writing_leaves_nothing(tmp_path):
    out = tmp_path / "broken.mp4"
    with pytest.raises(RuntimeError, match="boom"), VideoWriter(out, fps=Fraction(25), size=(32, 32)) as w:
        w.write(pattern_frame(0, 32, 32))
        raise RuntimeError("boom")
    assert not out.exists() and _leftovers(tmp_path) == []


def test_wrong_frame_count_is_an_error_and_keeps_the_old_file(tmp_path):
    out = tmp_path / "count.mp4"
    out.write_bytes(b"previous")
    with (
        pytest.raises(ProcessingError, match="announced"),
        VideoWriter(out, fps=Fraction(25), size=(32, 32), n_frames=5, preset="ultrafast") as w,
    ):
        for k in range(3):
            w.write(pattern_frame(k, 32, 32))
    assert out.read_bytes() == b"previous" and _leftovers(tmp_path) == []


def test_wrong_frame_shape_is_refused(tmp_path):
    with (
        pytest.raises(ProcessingError, match="expected"),
        VideoWriter(tmp_path / "shape.mp4", fps=Fraction(25), size=(32, 32)) as w,
    ):
        w.write(np.zeros((16, 16, 3), np.uint8))
    assert _leftovers(tmp_path) == []


def test_atomic_output_rules(tmp_path):
    with pytest.raises(InputError, match="does not exist"), atomic_output(tmp_path / "missing" / "x.txt"):
        pass
    target = tmp_path / "x.txt"
    with atomic_output(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        tmp.write_text("done")
    assert target.read_text() == "done"
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~current_umask())
    with pytest.raises(InputError, match="--force"), atomic_output(target, overwrite=False):
        pass
