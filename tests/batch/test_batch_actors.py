"""Subtitle re-voicing with several actors: an ASS file whose events name two speakers of one scene, each
mapped to their own profile and face (`--profile NAME=P --face NAME=N`); each face changes only inside its
own actor's events, and nothing changes outside the events."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from s2l_model.batch.subtitles import Casting, SubtitleEvent, cast_roles, voice_parts
from s2l_model.media import VideoWriter, iter_frames, probe_video
from s2l_model.sample import SampleConfig, make_sample_speaker
from tests.conftest import TINY_PRESET, build_profile_cli
from tests.support import run_s2l

ASS_HEADER = """[Script Info]
ScriptType: v4.00+

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, \
Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, \
MarginR, MarginV, Encoding
Style: Default,Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H00000000,0,0,0,0,100,100,0,0,1,2,2,2,10,10,10,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
"""
#: (actor, start, end): BEN's line overlaps ANNA's second one (two people may talk at once)
LINES = [("ANNA", 0.5, 3.0), ("BEN", 4.0, 6.5), ("ANNA", 6.0, 7.5)]


def write_ass(path: Path, lines: list[tuple[str, float, float]]) -> Path:
    def stamp(t: float) -> str:
        return f"0:00:{int(t):02d}.{round((t % 1) * 100):02d}"

    rows = [f"Dialogue: 0,{stamp(a)},{stamp(b)},Default,{who},0,0,0,,a line of {who}" for who, a, b in lines]
    path.write_text(ASS_HEADER + "\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def two_actor_scene(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two sample speakers side by side (lossless), and a tiny profile of each (`profile build --face`)."""
    folder = tmp_path_factory.mktemp("two_actors")
    (folder / "a").mkdir()
    (folder / "b").mkdir()
    left = make_sample_speaker(folder / "a", SampleConfig(seconds=8.0, seed=3))
    right = make_sample_speaker(folder / "b", SampleConfig(seconds=8.0, seed=5))
    info = probe_video(left.video)
    assert info.video is not None
    scene = folder / "scene.mkv"
    size = (2 * info.video.width, info.video.height)
    with VideoWriter(
        scene, fps=info.video.fps, size=size, codec="ffv1", n_frames=info.video.n_frames, audio=left.speech
    ) as w:  # the sound is one actor's: enough for tiny profiles, which are not judged on sync
        for a, b in zip(iter_frames(left.video), iter_frames(right.video), strict=True):
            w.write(np.concatenate([a, b], axis=1))
    profiles = {}
    for name, face in (("anna", 1), ("ben", 2)):
        (folder / name).mkdir()
        profiles[name] = build_profile_cli(
            scene, folder / name, TINY_PRESET, "--no-eval", "--face", str(face)
        )
    return {"scene": scene, "speech": left.speech, **profiles}


def test_each_actor_is_revoiced_only_in_their_own_events(two_actor_scene: dict, tmp_path: Path) -> None:
    scene = two_actor_scene["scene"]
    ass = write_ass(tmp_path / "scene.ass", LINES)
    out = tmp_path / "dubbed.mkv"
    cast = ["--profile", f"ANNA={two_actor_scene['anna']}", "--profile", f"BEN={two_actor_scene['ben']}"]
    common = [*cast, "--speech", str(two_actor_scene["speech"]), "--video", str(scene), "-o", str(out)]
    unfaced = run_s2l("batch", str(ass), *common, "--dry-run")
    assert unfaced.returncode == 2 and "--face NAME=N" in unfaced.stderr  # two profiles: which face is whose
    proc = run_s2l("batch", str(ass), *common, "--face", "ANNA=1", "--face", "BEN=2")
    assert proc.returncode == 0, proc.stderr
    info = probe_video(scene)
    assert info.video is not None
    n, fps, half = info.video.n_frames, float(info.video.fps), info.video.width // 2
    t = np.arange(n) / fps
    speaks = {who: np.zeros(n, bool) for who in ("ANNA", "BEN")}
    for who, start, end in LINES:
        speaks[who] |= (t >= start) & (t < end)
    left_changed, right_changed = np.zeros(n, bool), np.zeros(n, bool)
    for k, (frame, source) in enumerate(zip(iter_frames(out), iter_frames(scene), strict=True)):
        left_changed[k] = not np.array_equal(frame[:, :half], source[:, :half])
        right_changed[k] = not np.array_equal(frame[:, half:], source[:, half:])
    assert not (left_changed & ~speaks["ANNA"]).any(), "ANNA's face changed outside her events"
    assert not (right_changed & ~speaks["BEN"]).any(), "BEN's face changed outside his events"
    assert left_changed[speaks["ANNA"]].mean() > 0.9 and right_changed[speaks["BEN"]].mean() > 0.9
    both = speaks["ANNA"] & speaks["BEN"]
    # both talk at once: both re-voiced (but the first frame of a line, where its ramp starts at 0)
    assert both.sum() > 5 and (left_changed & right_changed)[both].mean() > 0.9


def event(number: int, actor: str, start: float, end: float, text: str = "hi") -> SubtitleEvent:
    return SubtitleEvent(number, start, end, actor, text)


def test_casting_maps_actors_to_profiles_faces_and_voices() -> None:
    events = [event(1, "ANNA", 0, 1), event(2, "BEN", 1, 2), event(3, "CLEO", 2, 3), event(4, "", 3, 4)]
    named = Casting(profiles={"ANNA": Path("a.prof"), "BEN": Path("b.prof")}, faces={"ANNA": 1, "BEN": 2})
    roles, problems = cast_roles(events, named)
    assert problems == []
    assert [(r.actor, r.face, [e.number for e in r.events]) for r in roles] == [
        ("ANNA", 1, [1]),
        ("BEN", 2, [2]),
    ]  # CLEO and the unnamed event keep their own lips
    default = Casting(profiles={"": Path("d.prof"), "ANNA": Path("a.prof")}, faces={"": 2, "ANNA": 1})
    roles, problems = cast_roles(events, default)
    assert problems == [] and [[e.number for e in r.events] for r in roles] == [[2, 3, 4], [1]]
    _, problems = cast_roles(events, Casting(profiles={"DAN": Path("x.prof")}, faces={"EVE": 1}))
    assert any("--face EVE" in p for p in problems) and any("no event of DAN" in p for p in problems)
    _, problems = cast_roles(
        events, Casting(profiles={"ANNA": Path("a"), "BEN": Path("b")}, faces={"ANNA": 1})
    )
    assert any("--face NAME=N" in p for p in problems)
    _, problems = cast_roles(events, Casting(profiles={"ANNA": Path("a"), "BEN": Path("b")},
                                             faces={"ANNA": 1, "BEN": 1}))  # fmt: skip
    assert any("same --face" in p for p in problems)
    parts, problems = voice_parts([*events, event(5, "BEN", 5, 6, "  ")], {"": "v0", "BEN": "v1"})
    assert problems == [] and [(v, [e.number for e in es]) for v, es in parts] == [
        ("v0", [4]),
        ("v0", [1]),
        ("v1", [2]),
        ("v0", [3]),
    ]  # one part per actor (each says one line at a time), empty text not spoken
    assert voice_parts(events, {"ZED": "v"})[1]  # nobody to speak
