"""Subtitle re-voicing on the real development speaker (../shared/data; skipped where absent): an SRT with
three events and a dub track of another speaker over an excerpt of the dev clip, lossless output. Frames
outside the events are the source's bit for bit, frames inside them are re-rendered, and the output keeps
the footage's length, rate and the dub track.

Whether the lips inside the events follow the dub track needs a profile trained for several minutes, more
than a test can spend on two cores: that is measured by ``bench/revoice.py`` (BENCHMARKS.md, "Batch"). The
profile here is the tiny test preset: it exercises tracking real footage into the profile's space, the
ramps and the muxing, not the lips' quality."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from s2l_model.media import VideoWriter, iter_frames, load_speech, probe_video
from tests.conftest import TINY_PRESET, build_profile_cli, shared_file
from tests.support import run_s2l

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

EXCERPT_S = 12.0
EVENTS = [(1.0, 4.0), (5.5, 8.0), (9.0, 11.5)]


@pytest.fixture(scope="module")
def dev_scene(cnn_anchor: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The first seconds of the dev clip, and a tiny profile built from them."""
    folder = tmp_path_factory.mktemp("dev_speaker")
    info = probe_video(cnn_anchor)
    assert info.video is not None
    n = round(EXCERPT_S * float(info.video.fps))
    excerpt = folder / "excerpt.mp4"
    speech = load_speech(cnn_anchor, max_seconds=EXCERPT_S)
    size = (info.video.width, info.video.height)
    with VideoWriter(
        excerpt, fps=info.video.fps, size=size, codec="h264", crf=12, audio=speech, n_frames=n
    ) as w:
        for frame in iter_frames(cnn_anchor, max_frames=n):
            w.write(frame)
    profile = build_profile_cli(excerpt, folder, TINY_PRESET, "--no-eval")
    return {"video": excerpt, "profile": profile}


def test_subtitles_on_the_dev_speaker(dev_scene: dict[str, Path], tmp_path: Path) -> None:
    video = dev_scene["video"]
    dub_track = shared_file("speech/english_60s.wav")
    srt = tmp_path / "dub.srt"
    blocks = []
    for k, (start, end) in enumerate(EVENTS, 1):
        stamp = [f"00:00:{int(s):02d},{round((s % 1) * 1000):03d}" for s in (start, end)]
        blocks.append(f"{k}\n{stamp[0]} --> {stamp[1]}\nline {k}\n")
    srt.write_text("\n".join(blocks))
    out = tmp_path / "dubbed.mkv"  # FFV1: lossless
    proc = run_s2l(
        "batch", str(srt), "--profile", str(dev_scene["profile"]), "--speech", str(dub_track),
        "--video", str(video), "-o", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    info = probe_video(out)
    source_info = probe_video(video)
    assert info.video is not None and source_info.video is not None
    n, fps = source_info.video.n_frames, float(source_info.video.fps)
    assert info.video.n_frames == n and info.video.fps == source_info.video.fps and info.has_audio
    muxed = load_speech(out)
    dub = load_speech(dub_track, max_seconds=n / fps)
    # the muxed sound is the dub track (FLAC in the MKV), not the footage's
    m = min(len(muxed.samples), len(dub.samples))
    assert m > 0.9 * n / fps * dub.sample_rate
    assert np.corrcoef(muxed.samples[:m], dub.samples[:m])[0, 1] > 0.99

    t = np.arange(n) / fps
    inside = np.zeros(n, bool)
    for start, end in EVENTS:
        inside |= (t >= start) & (t < end)
    changed = np.zeros(n, bool)
    for k, (frame, source) in enumerate(zip(iter_frames(out), iter_frames(video), strict=True)):
        changed[k] = not np.array_equal(frame, source)
    assert not changed[~inside].any(), (
        f"frames outside the events changed: {np.flatnonzero(changed & ~inside)}"
    )
    assert changed[inside].mean() > 0.9
