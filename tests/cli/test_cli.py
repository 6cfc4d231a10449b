"""The command line: one-line errors with exit code 2 and nothing written; the demo flow works."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from s2l_model.media import probe_video
from s2l_model.sample import synthesize_speech
from tests.support import assert_one_line_error, run_s2l


@pytest.fixture(scope="module")
def silent_video(make_video) -> Path:
    return make_video("no_audio.mp4", 10, Fraction(25))


@pytest.fixture(scope="module")
def talking_video(make_video) -> Path:
    return make_video("with_audio.mp4", 50, Fraction(25), audio=synthesize_speech(2.0, seed=4).speech)


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


BAD_SOURCES = {
    "missing": (lambda d: d / "missing.mp4", "no such file"),
    "zero-byte": (lambda d: _write(d / "empty.mp4", b""), "empty (0 bytes)"),
    "text-named-mp4": (
        lambda d: _write(d / "text.mp4", b"this is not a video\n"),
        "not a video or audio file",
    ),
    "folder": (lambda d: d, "expected a file, got a folder"),
}


@pytest.mark.parametrize(("make_input", "needle"), BAD_SOURCES.values(), ids=BAD_SOURCES.keys())
def test_bad_source_files(tmp_path, make_input, needle):
    src = make_input(tmp_path)
    out = tmp_path / "out" / "x.mp4"
    out.parent.mkdir()
    proc = run_s2l("media", "reencode", str(src), "-o", str(out))
    assert_one_line_error(proc, needle)
    assert list(out.parent.iterdir()) == []


def test_video_without_audio_where_audio_is_required(tmp_path, silent_video):
    out = tmp_path / "x.mp4"
    assert_one_line_error(run_s2l("media", "reencode", str(silent_video), "-o", str(out)), "no audio track")
    assert list(tmp_path.iterdir()) == []
    # ...and it is allowed when asked for
    assert run_s2l("media", "reencode", str(silent_video), "-o", str(out), "--no-audio").returncode == 0


def test_output_folder_that_does_not_exist(tmp_path, talking_video):
    proc = run_s2l("media", "reencode", str(talking_video), "-o", str(tmp_path / "nope" / "x.mp4"))
    assert_one_line_error(proc, "output folder does not exist")
    assert not (tmp_path / "nope").exists()


def test_existing_output_needs_force(tmp_path, talking_video):
    out = tmp_path / "x.mp4"
    out.write_bytes(b"keep me")
    assert_one_line_error(run_s2l("media", "reencode", str(talking_video), "-o", str(out)), "--force")
    assert out.read_bytes() == b"keep me"
    assert run_s2l("media", "reencode", str(talking_video), "-o", str(out), "--force").returncode == 0
    assert probe_video(out).video.n_frames == 50


def test_codec_and_suffix_must_agree(tmp_path, talking_video):
    proc = run_s2l(
        "media", "reencode", str(talking_video), "-o", str(tmp_path / "x.mp4"), "--codec", "prores"
    )
    assert_one_line_error(proc, ".mov")


def test_usage_error_exit_code_2(tmp_path):
    proc = run_s2l("media", "reencode", "--bogus")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_json_mode_prints_only_json_on_stdout(tmp_path, talking_video):
    proc = run_s2l("media", "reencode", str(talking_video), "-o", str(tmp_path / "x.mkv"), "--json")
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert events[-1]["event"] == "result" and events[-1]["frames"] == 50
    assert {e["event"] for e in events} <= {"progress", "result"}
    bad = run_s2l("media", "probe", str(tmp_path / "missing.mp4"), "--json")
    assert bad.returncode == 2 and json.loads(bad.stdout)["event"] == "error"


def test_debug_shows_the_traceback(tmp_path):
    proc = run_s2l("media", "probe", str(tmp_path / "missing.mp4"), "--debug")
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_probe_prints_the_exact_rate(make_video):
    proc = run_s2l("media", "probe", str(make_video("ntsc_probe.mp4", 6, Fraction(30000, 1001))), "--json")
    info = json.loads(proc.stdout)
    assert info["video"]["fps"] == "30000/1001" and info["video"]["n_frames"] == 6


def test_demo_flow_sample_then_reencode_with_its_speech(tmp_path):
    """README's demo at this stage: make the sample speaker, re-encode it with its speech (ProRes)."""
    folder = tmp_path / "sample"
    made = run_s2l("sample", "speaker", "-o", str(folder), "--seconds", "3", "--json")
    assert made.returncode == 0, made.stderr
    assert made.stderr == "", "with --json nothing but JSON may be printed (mediapipe's native logs included)"
    result = json.loads(made.stdout.splitlines()[-1])
    assert result["frames"] == 75
    out = tmp_path / "speaker.mov"
    proc = run_s2l(
        "media",
        "reencode",
        str(folder / "speaker.mp4"),
        "--speech",
        str(folder / "speech.wav"),
        "-o",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    info = probe_video(out)
    assert info.video.codec == "prores" and info.video.n_frames == 75 and info.has_audio
    # the sample folder is not silently overwritten
    assert_one_line_error(run_s2l("sample", "speaker", "-o", str(folder)), "not empty")


def test_sample_speech_never_overwrites_its_truth_without_force(tmp_path):
    wav = tmp_path / "line.wav"
    truth = tmp_path / "line.truth.csv"
    truth.write_text("someone else's truth\n")
    assert_one_line_error(run_s2l("sample", "speech", "-o", str(wav), "--seconds", "2"), "--force")
    assert truth.read_text() == "someone else's truth\n" and not wav.exists()
    assert run_s2l("sample", "speech", "-o", str(wav), "--seconds", "2", "--force").returncode == 0
    assert wav.exists() and truth.read_text().startswith("frame,")


def test_no_finished_bar_stays_above_an_error(tmp_path: Path) -> None:
    """A command whose first stage finished and whose second failed prints the error line only."""
    script = tmp_path / "two_stages.py"
    script.write_text(
        "import sys\n"
        "from s2l_cli.app import app, main\n"
        "from s2l_cli.report import Reporter\n"
        "from s2l_model.errors import InputError\n"
        "@app.command('two-stages')\n"
        "def two_stages() -> None:\n"
        "    with Reporter(False).stages() as on_stage:\n"
        "        for k in range(1, 4):\n"
        "            on_stage('first', k, 3)\n"
        "        on_stage('second', 1, 5)\n"
        "    with Reporter(False).stage('third', 2) as update:\n"
        "        update(1)\n"
        "    raise InputError('the second stage found a problem')\n"
        "sys.exit(main(['two-stages']))\n"
    )
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert_one_line_error(proc, "the second stage found a problem")
