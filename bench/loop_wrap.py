"""How visible are a dub's loop wraps? Frame differences through each cross-fade, and contact sheets.

    .venv/bin/python bench/loop_wrap.py OUTPUT.mp4 RESULT.json [--profile P.prof] [--out bench/out/loop_wrap]
                                        [--json bench/out/loop_wrap/report.json]

RESULT.json is the last line of `s2l dub --json` for OUTPUT (its `wraps`, `dissolve_frames` and
`footage_frames`: the schedule the dub reported). For every wrap the bench measures the mean absolute
difference of consecutive output frames, in grey levels, from the frame before the cross-fade to the first
frame after it, both at full resolution and on 64-px thumbnails (the chooser's own measure), and divides
the largest by the median consecutive difference of the whole output: ≤ 2 means the wrap is no bigger a
change than twice a typical frame step. As the footage moves by itself too (a gesture inside a long
cross-fade counts), with --profile it also reports the footage's own steps at the same frames (the
larger of the two runs' steps) and the largest excess of the output's step over them. For comparison it
reports the jump a plain wrap (no cross-fade) would make between the same footage frames, measured on the
footage.

Contact sheets (PNG) go to --out, which is git-ignored: for each wrap a grid of the output frames from two
before the cross-fade to two after it, and with --profile a full-resolution crop of the lower face (the
profile's crop around the jaw) of the same frames. They show the speaker: never commit them.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from s2l_model.dub.background import Schedule, thumbnails  # noqa: E402
from s2l_model.dub.footage import FootageTracks  # noqa: E402
from s2l_model.media import iter_frames, probe_video, seek_seconds  # noqa: E402
from s2l_model.media.atomic import write_json, write_png  # noqa: E402
from s2l_model.prepare.inspect import contact_sheet  # noqa: E402
from s2l_model.profile.speaker import SpeakerProfile  # noqa: E402

AROUND = 2  # frames shown before and after each cross-fade


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("video", type=Path)
    parser.add_argument("result", type=Path, help="the `s2l dub --json` result line (a file)")
    parser.add_argument("--profile", type=Path, help="for the jaw crops and the plain-wrap comparison")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "loop_wrap")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    result = json.loads(args.result.read_text().strip().splitlines()[-1])
    wraps: list[int] = result.get("wraps", [])
    w = int(result.get("dissolve_frames", 0))
    first, last = result["footage_frames"]
    info = probe_video(args.video)
    assert info.video is not None
    fps = info.video.fps
    n = info.video.n_frames

    show: dict[int, list[int]] = {
        wrap: list(range(max(0, wrap - AROUND), min(n, wrap + w + AROUND))) for wrap in wraps
    }
    wanted = {k for ks in show.values() for k in ks}
    full_steps: list[float] = []
    frames: dict[int, np.ndarray] = {}
    previous = None
    for k, frame in enumerate(iter_frames(args.video)):
        grey = frame.astype(np.float32).mean(axis=2)
        if previous is not None:
            full_steps.append(float(np.abs(grey - previous).mean()))
        previous = grey
        if k in wanted:
            frames[k] = frame
    full = np.array(full_steps)
    thumbs = thumbnails(args.video, 0, n, fps)
    small = np.abs(np.diff(thumbs, axis=0)).mean(axis=(1, 2))
    med_full, med_small = float(np.median(full)), float(np.median(small))

    tracks = profile = footage = None
    if args.profile is not None:
        profile = SpeakerProfile.load(args.profile)
        tracks = FootageTracks.from_profile(profile)
    schedule = Schedule("loop", first, last, fps, fps, dissolve=w)
    index = schedule.frames(0, n)
    second, _ = schedule.mix(0, n)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        own_steps = None
        if profile is not None:
            footage = profile.extract_footage(Path(tmp))
            own_steps = _footage_steps(footage, first, last + 1, fps)
        for i, wrap in enumerate(wraps):
            span = slice(wrap - 1, wrap + w)  # steps from the frame before the cross-fade to the one after
            natural = None
            if own_steps is not None:  # the footage's own motion there: the larger of the two runs' steps
                ks = np.arange(span.start, span.stop)
                natural = np.maximum(own_steps[index[ks] - first], own_steps[second[ks] - first])
            row = {
                "wrap_output_frame": wrap,
                "dissolve_frames": w,
                "full_max_over_median": round(float(full[span].max()) / med_full, 3),
                "natural_max_over_median": _ratio(None if natural is None else natural.max(), med_full),
                "full_excess_over_natural_max": _ratio(
                    None if natural is None else (full[span] - natural).max(), med_full
                ),
                "thumb_max_over_median": round(float(small[span].max()) / med_small, 3),
                "full_steps_over_median": [round(float(v) / med_full, 2) for v in full[span]],
            }
            if footage is not None:  # the jump a plain wrap would make: loop end → loop start, on the footage
                end, start = thumbnails(footage, last, 1, fps)[0], thumbnails(footage, first, 1, fps)[0]
                row["plain_wrap_thumb_over_median"] = round(float(np.abs(end - start).mean()) / med_small, 2)
            rows.append(row)
            print(json.dumps(row), flush=True)
            tiles = [frames[k] for k in show[wrap]]
            write_png(args.out / f"wrap{i}_sheet.png", contact_sheet(tiles, columns=4, tile=256))
            if tracks is not None and profile is not None:
                cw, ch = profile.model.layout.crop_size
                jaws = []
                for k in show[wrap]:
                    x, y = (int(v) for v in tracks.origins[index[k]])
                    jaws.append(frames[k][y : y + ch, x : x + cw])
                write_png(args.out / f"wrap{i}_jaw.png", contact_sheet(jaws, columns=4, tile=cw))
    report = {
        "video": str(args.video),
        "frames": n,
        "fps": str(Fraction(fps)),
        "median_step_full": round(med_full, 4),
        "median_step_thumb": round(med_small, 4),
        "largest_step_full_over_median": round(float(full.max()) / med_full, 2) if len(full) else None,
        "wraps": rows,
        "command": " ".join(sys.argv),
    }
    print(json.dumps({k: v for k, v in report.items() if k != "wraps"}))
    if args.json:
        write_json(args.json, report)


def _footage_steps(footage: Path, lo: int, hi: int, fps: Fraction) -> np.ndarray:
    """(hi - lo,) full-resolution grey step of footage frame lo + j to the next (the last: 0)."""
    steps, previous = [], None
    for frame in iter_frames(footage, start=seek_seconds(lo, fps), max_frames=hi - lo + 1):
        grey = frame.astype(np.float32).mean(axis=2)
        if previous is not None:
            steps.append(float(np.abs(grey - previous).mean()))
        previous = grey
    return np.array(steps + [0.0] * (hi - lo - len(steps)))


def _ratio(value: float | None, median: float) -> float | None:
    return None if value is None else round(float(value) / median, 3)


if __name__ == "__main__":
    main()
