"""`s2l batch` on editors' timelines (docs/NLE.md): real timelines written with OpenTimelineIO's adapters
(.otio, FCP 7 XML, CMX 3600 EDL) at 29.97 drop-frame and 23.976 read back as frame-exact jobs; a broken
timeline refused with every problem named; a real run whose dubbed timeline is written back and re-read;
the one-line error without the ``nle`` extra."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

from s2l_model.batch.nle_read import read_nle_timeline
from s2l_model.batch.nle_write import FAILED_MARKER, write_dubbed_timeline
from s2l_model.media import estimate_offset, ffmpeg_exe, load_speech, probe_video
from s2l_model.sample import SampleOutputs
from tests.batch.nle_support import FILM, NTSC, Placed, footage_at, recording, timeline, write
from tests.support import assert_one_line_error, run_s2l

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def media(sample_speaker: SampleOutputs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder as an editor's project has it: the sample speaker's footage at 29.97 and 23.976 (8 s: 240
    and 192 frames) and a 3 s recording that dub lines are cut from."""
    folder = tmp_path_factory.mktemp("nle")
    footage_at(sample_speaker.video, NTSC, folder / "take_2997.mp4")
    footage_at(sample_speaker.video, FILM, folder / "take_23976.mp4")
    recording(folder / "adr.wav", 3.0)
    (folder / "anna.prof").write_bytes(b"checked for existence only when reading")
    return folder


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


# Hand-computed cases: (rate, footage, take record in, take source in, line record in, line source in,
# line frames, first footage frame, speech start in seconds).
# 29.97 DF: the take sits at 00:00:59;00 = frame 1770; the line at 00:01:00;10 = 1800 + 10 − 2 dropped = 1808;
# so the line starts 38 frames into the take (40 if the timecode were read non-drop), at footage frame
# 15 + 38 = 53; its speech starts 12 frames = 12 × 1001/30000 = 0.4004 s into the recording.
# 23.976: take at 00:00:01:00 = 24, line at 00:00:02:06 = 54: 30 frames in, footage frame 12 + 30 = 42;
# speech from 12 × 1001/24000 = 0.5005 s.
CASES = {
    "2997df": (NTSC, "take_2997.mp4", "00:00:59;00", "00:00:00;15", "00:01:00;10", "00:00:00;12", 30, 53,
               0.4004),
    "23976": (FILM, "take_23976.mp4", "00:00:01:00", "00:00:00:12", "00:00:02:06", "00:00:00:12", 24, 42,
              0.5005),
}  # fmt: skip


@pytest.mark.parametrize("suffix", [".otio", ".xml", ".edl"])
@pytest.mark.parametrize("case", list(CASES))
def test_jobs_are_frame_exact_in_every_format(media: Path, tmp_path: Path, suffix: str, case: str) -> None:
    rate, take, take_in, take_src, line_in, line_src, frames, first, speech_start = CASES[case]
    tl = timeline(
        rate,
        [[Placed("take 1", take, take_in, take_src, 120)]],
        {"ANNA": [Placed("ANNA: line 1", "adr.wav", line_in, line_src, frames)]},
    )
    path = write(tl, media / f"scene_{case}{suffix}")
    plan = read_nle_timeline(path, tmp_path / "out", {"ANNA": media / "anna.prof"})
    assert plan.problems == [] and plan.ignored == []
    (job,) = plan.jobs
    assert job.id == "ANNA_line_1" and job.output == tmp_path / "out" / "ANNA_line_1.mp4"
    assert job.video == media / take and job.speech == media / "adr.wav" and job.fps == rate
    # seconds are frame / fps of the footage's exact rate: the dub's round(start × fps) gets the frame back
    assert job.start == float(Fraction(first) / rate) and round(job.start * rate) == first
    assert job.end == float(Fraction(first + frames) / rate) and round(job.end * rate) == first + frames
    assert job.speech_start == pytest.approx(speech_start, abs=1e-9)
    assert job.speech_duration == float(Fraction(frames) / rate)
    assert job.label.endswith(f"'ANNA: line 1' at {line_in}")  # the record timecode, drop-frame at 29.97
    assert job.label.startswith("A1")  # the track: an EDL and FCP XML keep no track names, only positions


@pytest.mark.parametrize("suffix", [".otio", ".xml", ".edl"])
def test_source_times_count_from_the_media_timecode(media: Path, tmp_path: Path, suffix: str) -> None:
    """Camera footage whose first frame is 01:00:00;00: the take's source in 01:00:00;15 is its frame 15.
    OTIO and FCP XML say where the media starts (``available_range``); an EDL does not, and the file's own
    source timecode tells."""
    camera = media / "camera_2997.mp4"
    if not camera.exists():
        cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(media / "take_2997.mp4"), "-c", "copy",
               "-timecode", "01:00:00;00", "-y", str(camera)]  # fmt: skip
        subprocess.run(cmd, check=True, capture_output=True)
    tl = timeline(
        NTSC,
        [[Placed("take 1", camera.name, "00:00:59;00", "01:00:00;15", 120)]],
        {"ANNA": [Placed("ANNA: line 1", "adr.wav", "00:01:00;10", "00:00:00;12", 30)]},
        media_start={camera.name: "01:00:00;00"},
    )
    path = write(tl, media / f"camera{suffix}")
    plan = read_nle_timeline(path, tmp_path / "out", {"ANNA": media / "anna.prof"})
    assert plan.problems == []
    (job,) = plan.jobs
    assert round(job.start * NTSC) == 15 + 38  # as in CASES["2997df"], on the camera's clock


def test_a_broken_timeline_names_every_problem_and_runs_nothing(media: Path, tmp_path: Path) -> None:
    profile = {"s2l": {"profile": "anna.prof"}}
    tl = timeline(
        NTSC,
        [
            [
                Placed("take 1", "take_2997.mp4", "00:00:01;00", "00:00:00;00", 60),  # record frames 30-89
                Placed("take 2", "take_2997.mp4", "00:00:03;00", "00:00:03;00", 60),  # 90-149
                Placed(
                    "take 3", "take_2997.mp4", "00:00:06;00", "00:00:07;00", 60
                ),  # 180-239, footage 210-269
            ]
        ],
        {
            "ANNA": [
                Placed("missing", "nowhere.wav", "00:00:01;05", "00:00:00;00", 10),
                Placed("straddle", "adr.wav", "00:00:02;20", "00:00:00;00", 20),  # 80-99: takes 1 and 2
                Placed("too long", "adr.wav", "00:00:03;10", "00:00:02;25", 30),  # speech 2.83-3.83 s of 3 s
                Placed("outside", "adr.wav", "00:00:07;00", "00:00:00;00", 30),  # footage 240-269 of 240
                Placed("no video", "adr.wav", "00:00:10;00", "00:00:00;00", 10),
            ],
            "BEN": [Placed("ben 1", "adr.wav", "00:00:03;15", "00:00:00;00", 10, {"s2l": {}})],  # no profile
            "MUSIC": [Placed("score", "adr.wav", "00:00:00;00", "00:00:00;00", 60)],
        },
    )
    for clip in tl.tracks[1]:  # ANNA's lines name their profile in metadata
        if isinstance(clip, otio.schema.Clip):
            clip.metadata.update(profile)
    path = write(tl, media / "broken.otio")
    out = tmp_path / "out"
    proc = run_s2l("batch", str(path), "-o", str(out), "--dry-run", "--json")
    assert proc.returncode == 2, proc.stderr
    evs = events(proc.stdout)
    found = {(e["clip"], e["timecode"]): e for e in evs if e["event"] == "problem"}
    assert [e["track"] for e in evs if e["event"] == "ignored_track"] == ["A3 (MUSIC)"]
    expected = {
        ("missing", "00:00:01;05"): "speech file not found",
        ("straddle", "00:00:02;20"): "straddles video clips 'take 1' and 'take 2' on V1",
        ("too long", "00:00:03;10"): "needs adr.wav from 2.836 s to 3.837 s; it lasts 3.000 s",
        ("outside", "00:00:07;00"): "needs frames 240-269 of take_2997.mp4, which has 240",
        ("no video", "00:00:10;00"): "has no video under it",
    }
    for key, needle in expected.items():
        assert found[key]["track"] == "A1 (ANNA)" and needle in found[key]["message"], found
    ben = [e["message"] for e in evs if e["event"] == "problem" and e["clip"] == "ben 1"]
    assert any("no profile" in m and "--profile A2=" in m for m in ben), ben
    assert any("overlaps A1 (ANNA) 'too long' at 00:00:03;10 over the same take 'take 2'" in m for m in ben)
    assert evs[-1]["event"] == "summary" and evs[-1]["problems"] == len(found) + len(ben) - 1
    # the real run agrees: any problem, nothing runs, exit 2, nothing written
    real = run_s2l("batch", str(path), "-o", str(out))
    assert real.returncode == 2 and "straddles" in real.stderr and not out.exists()


def test_a_timeline_is_dubbed_and_written_back(media: Path, tiny_profile: Path, tmp_path: Path) -> None:
    """Two lines of ~1 s over one take: one dubs, one fails (its profile is no profile); the timeline is
    written back as .otio, then (resuming: the done line is up to date) as FCP 7 XML, and both re-read."""
    (media / "speaker.prof").unlink(missing_ok=True)
    (media / "speaker.prof").symlink_to(tiny_profile)
    (media / "garbage.prof").write_bytes(b"PK\x03\x04 not a zip, not a profile")
    not_a_profile = {"s2l": {"profile": "garbage.prof"}}
    tl = timeline(
        NTSC,
        [[Placed("take 1", "take_2997.mp4", "00:00:00;00", "00:00:00;00", 150)]],
        {
            "DIALOG": [
                Placed("ANNA: hello", "adr.wav", "00:00:00;20", "00:00:00;10", 30),
                Placed("ANNA: broken", "adr.wav", "00:00:03;00", "00:00:01;00", 30, not_a_profile),
            ]
        },
    )
    path = write(tl, media / "scene.otio")
    out = tmp_path / "renders"
    args = ["batch", str(path), "-o", str(out), "--profile", f"ANNA={media / 'speaker.prof'}", "--json"]
    proc = run_s2l(*args, "--timeline-out", str(tmp_path / "dubbed.otio"))
    assert proc.returncode == 1, proc.stderr
    summary = events(proc.stdout)[-1]
    assert (summary["done"], summary["failed"]) == (1, 1), summary
    (done,) = [e for e in events(proc.stdout) if e["event"] == "job_done"]
    assert done["footage_frames"] == [20, 49]  # the take plays on under the line, frame for frame
    render = out / "ANNA_hello.mp4"
    info = probe_video(render).video
    assert info is not None and info.fps == NTSC and info.n_frames == 30  # the line's frames, at its rate
    # its sound is the line's part of the recording: from 10 frames = 0.3337 s in
    heard = load_speech(render).samples
    assert len(heard) == pytest.approx(16000 * 1.001, abs=2)
    lag = estimate_offset(load_speech(media / "adr.wav").samples, heard, 16000)
    assert lag == pytest.approx(-10 * 1001 / 30000, abs=0.002)
    _check_written_back(otio.adapters.read_from_file(str(tmp_path / "dubbed.otio")), render)

    again = run_s2l(*args, "--resume", "--timeline-out", str(tmp_path / "dubbed.xml"))
    assert again.returncode == 1, again.stderr
    summary = events(again.stdout)[-1]
    assert (summary["skipped"], summary["failed"]) == (1, 1), summary
    back = otio.adapters.read_from_file(str(tmp_path / "dubbed.xml"), adapter_name="fcp_xml")
    _check_written_back(back, render)


def _check_written_back(tl: otio.schema.Timeline, render: Path) -> None:
    video, dialog = tl.tracks  # the audio track stays
    assert [c.name for c in dialog.find_clips()] == ["ANNA: hello", "ANNA: broken"]
    pieces = [(c, c.range_in_parent()) for c in video.find_clips()]
    assert [(round(r.start_time.value), round(r.duration.value)) for _, r in pieces] == [
        (0, 20),
        (20, 30),
        (50, 100),
    ]
    before, dubbed, after = (c for c, _ in pieces)
    assert dubbed.media_reference.target_url == render.resolve().as_uri()
    assert (
        round(dubbed.trimmed_range().start_time.value) == 0
        and round(dubbed.trimmed_range().duration.value) == 30
    )
    assert round(after.trimmed_range().start_time.value) == 50  # the take goes on where the render ends
    assert before.media_reference.target_url == after.media_reference.target_url
    assert Path(before.media_reference.target_url.removeprefix("file://")).name == "take_2997.mp4"
    (marker,) = after.markers  # the failed line, on the take at its record range (source = record here)
    assert marker.name == FAILED_MARKER and marker.color == otio.schema.MarkerColor.RED
    assert round(marker.marked_range.start_time.value) == 90
    why = marker.comment or marker.metadata.get("fcp_xml", {}).get("comment", "")  # FCP XML: <comment>
    assert "garbage.prof: not a speaker profile" in why


def test_an_edl_is_written_back_as_its_picture(media: Path, tmp_path: Path) -> None:
    """An EDL holds one track of events: the dubbed EDL is the picture, the render an event at the line's
    record timecodes (the lines stay in the source EDL)."""
    tl = timeline(
        NTSC,
        [[Placed("take 1", "take_2997.mp4", "00:00:59;00", "00:00:00;15", 120)]],
        {"A1": [Placed("line", "adr.wav", "00:01:00;10", "00:00:00;12", 30)]},
    )
    plan = read_nle_timeline(write(tl, media / "edit.edl"), tmp_path, {"A1": media / "anna.prof"})
    (job,) = plan.jobs
    written = write_dubbed_timeline(plan, {job.id: None}, tmp_path / "dubbed.edl")
    assert (written.dubbed, written.marked) == (1, 0)
    text = (tmp_path / "dubbed.edl").read_text()
    events_ = [line.split() for line in text.splitlines() if line[:3].isdigit()]
    # take 1 up to the line, the render (source 0 for 30 frames), the rest of take 1
    assert [e[4:8] for e in events_] == [
        ["00:00:00;15", "00:00:01;23", "00:00:59;00", "00:01:00;10"],
        ["00:00:00;00", "00:00:01;00", "00:01:00;10", "00:01:01;10"],
        ["00:00:02;23", "00:00:04;15", "00:01:01;10", "00:01:03;02"],
    ]
    assert f"* FROM CLIP: {job.output.resolve()}" in text
    back = otio.adapters.read_from_file(str(tmp_path / "dubbed.edl"), rate=float(NTSC))
    assert len(back.tracks) == 1 and back.tracks[0].kind == otio.schema.TrackKind.Video


def test_without_the_extra_one_line_says_what_to_install(media: Path, tmp_path: Path) -> None:
    fake = tmp_path / "site"
    (fake / "opentimelineio").mkdir(parents=True)
    (fake / "opentimelineio" / "__init__.py").write_text(
        "raise ImportError('No module named opentimelineio')\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake), str(REPO)])}
    (tmp_path / "scene.otio").write_text("{}")
    proc = subprocess.run(
        [sys.executable, "-m", "s2l_cli", "batch", str(tmp_path / "scene.otio"), "-o", str(tmp_path / "out")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert_one_line_error(proc, "pip install 's2l[nle]'")


def test_a_timeline_out_its_adapter_cannot_write_is_refused_before_running(
    media: Path, tmp_path: Path
) -> None:
    """OpenTimelineIO's FCPX writer fails at NTSC rates: said in one line before any job runs, exit 2."""
    tl = timeline(NTSC, [[Placed("take 1", "take_2997.mp4", "00:00:00;00", "00:00:00;00", 60)]],
                  {"ANNA": [Placed("ANNA: line", "adr.wav", "00:00:00;10", "00:00:00;00", 20)]})  # fmt: skip
    path = write(tl, media / "ntsc.otio")
    out = tmp_path / "out"
    args = ["--profile", f"ANNA={media / 'anna.prof'}", "--timeline-out", str(tmp_path / "dubbed.fcpxml")]
    proc = run_s2l("batch", str(path), "-o", str(out), *args)
    assert proc.returncode == 2 and "--timeline-out: cannot write dubbed.fcpxml as fcpx_xml" in proc.stderr
    assert not out.exists() and not (tmp_path / "dubbed.fcpxml").exists()


def test_profiles_ids_and_dub_tracks_follow_the_rules(media: Path, tmp_path: Path) -> None:
    """Profile: the line's metadata, then a NAME: prefix, then the track, then the default; ids from clip
    names, unique ignoring case; with --dub-tracks exactly those tracks, otherwise the marked ones."""
    for name in ("dialog.prof", "ben.prof", "meta.prof", "default.prof"):
        (media / name).write_bytes(b"-")
    take = [Placed("take", "take_2997.mp4", "00:00:00;00", "00:00:00;00", 200)]
    tl = timeline(
        NTSC,
        [take],
        {
            "DIALOG": [
                Placed("ANNA: hi", "adr.wav", "00:00:00;00", "00:00:00;00", 10),
                Placed("BEN: hi", "adr.wav", "00:00:01;00", "00:00:00;00", 10),
                Placed(
                    "Line", "adr.wav", "00:00:02;00", "00:00:00;00", 10, {"s2l": {"profile": "meta.prof"}}
                ),
                Placed("line", "adr.wav", "00:00:03;00", "00:00:00;00", 10),
            ],
            "FX": [Placed("door", "adr.wav", "00:00:04;00", "00:00:00;00", 10)],
        },
    )
    path = write(tl, media / "rules.otio")
    profiles = {"DIALOG": media / "dialog.prof", "ben": media / "ben.prof"}
    plan = read_nle_timeline(path, tmp_path, profiles)
    assert plan.problems == [] and plan.ignored == ["A2 (FX)"]
    got = {job.id: job.profile.name for job in plan.jobs}
    assert got == {
        "ANNA_hi": "dialog.prof",
        "BEN_hi": "ben.prof",
        "Line": "meta.prof",
        "line-2": "dialog.prof",
    }
    # --dub-tracks by label: the FX track too, its line taking the plain default
    plan = read_nle_timeline(path, tmp_path, {**profiles, "": media / "default.prof"}, ["a1", "A2"])
    assert plan.problems == [] and plan.ignored == []
    assert {job.id: job.profile.name for job in plan.jobs}["door"] == "default.prof"
    plan = read_nle_timeline(path, tmp_path, profiles, ["A3"])
    assert "--dub-tracks: no audio track 'A3'" in [str(p) for p in plan.problems]
