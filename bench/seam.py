"""Seam of a dub: does the composed lower face end in an edge the footage does not have? (issue 16)

    .venv/bin/python bench/seam.py PROFILE.prof SPEECH [--out bench/out/seam] [--json FILE] [--sheet N]

Dubs SPEECH with PROFILE through the library (``s2l_model.dub.dub``, lossless FFV1, the profile's own
footage, default loop background), then reads the dub back frame by frame beside the footage frame behind
it and the region the renderer wrote there. The region comes from the renderer itself: the same schedule
and the same batched render loop as the dub (``render_frames``), whose ``RenderedFrame.region`` is the
written mask; each recomputed frame is checked to equal the dub's (counted in ``identical_frames``). The
frames of a loop's cross-fade mix two composed frames over two footage frames and are left out (counted).

Per dub: the seam ratio (``metrics/seam.py``: composed / source gradient energy in rings across the
region's border) as median, 95th percentile, max, and the share of frames within 10 %; the same for the
jaw (the part of the rings below the lips). A contact sheet of full-resolution jaw crops (footage | dub |
|difference| x 4, the border ring outlined) of the worst frames by ratio and of evenly spaced ones goes to
``OUT/<profile>_<speech>_seam.png``; the dub itself stays in OUT as well.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from s2l_model.dub.background import FootageFrames, Schedule  # noqa: E402
from s2l_model.dub.footage import FootageTracks  # noqa: E402
from s2l_model.dub.pipeline import DubOptions, dub  # noqa: E402
from s2l_model.dub.speech import SpeechTrack  # noqa: E402
from s2l_model.media import iter_frames, probe_video  # noqa: E402
from s2l_model.media.atomic import write_png  # noqa: E402
from s2l_model.metrics.landmarks import lip_points  # noqa: E402
from s2l_model.metrics.seam import SeamScore, border_band, seam_score, summarise  # noqa: E402
from s2l_model.profile.speaker import SpeakerProfile  # noqa: E402
from s2l_model.render.batch import FaceLayer, RenderJob, render_frames  # noqa: E402
from s2l_model.render.compose import LipCompositor  # noqa: E402

DIFF_GAIN = 4


def _teed(frames: Iterable[np.ndarray], keep: deque) -> Iterator[np.ndarray]:
    """``frames`` passed on, each also queued in ``keep`` (the renderer reads ahead a batch at a time)."""
    for frame in frames:
        keep.append(frame)
        yield frame


def jaw_crop(frame: np.ndarray, region: np.ndarray) -> tuple[slice, slice]:
    """Rows and columns of a crop around the region's lower half (the jaw), with a margin of a tenth."""
    ys, xs = np.nonzero(region)
    h, w = region.shape
    y0, y1, x0, x1 = int(ys.mean()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    my, mx = max(4, (y1 - y0) // 5), max(4, (x1 - x0) // 10)
    return slice(max(0, y0 - my), min(h, y1 + my)), slice(max(0, x0 - mx), min(w, x1 + mx))


def sheet_tile(source: np.ndarray, composed: np.ndarray, region: np.ndarray, label: list[str]) -> np.ndarray:
    """footage | dub | |difference| x 4 of the jaw crop at full resolution; the border ring outlined in the
    difference, the label's lines written above."""
    rows, cols = jaw_crop(composed, region)
    src, out = source[rows, cols], composed[rows, cols]
    diff = np.clip(np.abs(out.astype(np.int16) - src.astype(np.int16)) * DIFF_GAIN, 0, 255).astype(np.uint8)
    ring = border_band(region, 1)[rows, cols]
    diff[ring] = (255, 0, 255)
    gap = np.full((src.shape[0], 4, 3), 255, np.uint8)
    tile = np.concatenate([src, gap, out, gap, diff], axis=1)
    banner = np.full((14 * len(label) + 4, tile.shape[1], 3), 255, np.uint8)
    for i, line in enumerate(label):
        cv2.putText(banner, line, (3, 12 + 14 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([banner, tile], axis=0)


def contact_sheet(tiles: list[np.ndarray]) -> np.ndarray:
    width = max(t.shape[1] for t in tiles)
    padded = [np.pad(t, ((0, 6), (0, width - t.shape[1]), (0, 0)), constant_values=255) for t in tiles]
    return np.concatenate(padded, axis=0)


def measure_dub(
    profile_path: Path, speech_path: Path, out_dir: Path, sheet_frames: int = 6
) -> dict[str, object]:
    """Dub, re-render with regions, measure every frame; returns the figures (and writes the sheet)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    name = f"{profile_path.stem}_{speech_path.stem}"
    output = out_dir / f"{name}.mkv"
    started = time.perf_counter()
    result = dub(profile_path, speech_path, output, DubOptions(codec="ffv1", overwrite=True, device="cpu"))
    dub_seconds = time.perf_counter() - started
    profile = SpeakerProfile.load(profile_path)
    tracks = FootageTracks.from_profile(profile)
    n = result.frames
    schedule = Schedule(
        result.background,
        *result.footage_frames,
        result.fps,
        tracks.fps,
        dissolve=result.dissolve,
        aligned=result.aligned,
    )
    index = schedule.frames(0, n)
    _, weight = schedule.mix(0, n)
    mixed = weight > 0
    landmarks = profile.arrays["landmarks"].astype(np.float32)
    lip_bottom = landmarks[:, lip_points(), 1].max(axis=1)
    scores: list[SeamScore | None] = []
    identical = 0
    pictures: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    even = set(np.linspace(0, n - 1, sheet_frames).round().astype(int).tolist()) if sheet_frames else set()
    worst: list[tuple[float, int]] = []  # (|ratio - 1|, frame), the sheet_frames worst
    with tempfile.TemporaryDirectory(prefix="seam-bench-") as tmp:
        scratch = Path(tmp)
        footage = profile.extract_footage(scratch)
        info = probe_video(footage)
        heard = SpeechTrack.decode(speech_path, scratch).heard(result.fps, n)
        shown = np.arange(schedule.first, schedule.last + 1)
        shown = shown[tracks.usable[shown]]
        compositor = LipCompositor.for_profile(profile, tracks.rotations[shown], tracks.translations[shown])
        job = RenderJob(
            layers=[FaceLayer(compositor, tracks.poses, tracks.usable[index])],
            footage=index,
            speech=heard,
            batch=DubOptions().batch,
        )
        sources: deque[np.ndarray] = deque()
        frames = FootageFrames(footage, tracks.fps, info, scratch_dir=scratch)
        try:
            rendered = render_frames(job, _teed(frames.in_order(index), sources))
            for k, (again, dubbed) in enumerate(zip(rendered, iter_frames(output), strict=True)):
                source = sources.popleft()
                if mixed[k]:
                    scores.append(None)
                    continue
                identical += int(np.array_equal(again.frame, dubbed))
                below = lip_bottom[index[k]]
                score = seam_score(
                    source, dubbed, again.region, below=float(below) if np.isfinite(below) else None
                )
                scores.append(score)
                if not np.isfinite(score.ratio):
                    continue
                badness = abs(score.ratio - 1)
                if not sheet_frames:
                    continue
                if len(worst) < sheet_frames:
                    worst.append((badness, k))
                elif badness > min(worst)[0]:
                    worst.remove(min(worst))
                    worst.append((badness, k))
                keep = even | {f for _, f in worst}
                if k in keep:
                    pictures[k] = (source, dubbed, again.region)
                pictures = {f: p for f, p in pictures.items() if f in keep}
        finally:
            frames.close()
    measured = [s for s in scores if s is not None]
    overall = summarise([s.ratio for s in measured])
    jaw = summarise([s.jaw_ratio for s in measured])
    border = summarise([s.border_ratio for s in measured])
    tiles = []
    worst_first = sorted({f for _, f in worst}, key=lambda f: -abs(scores[f].ratio - 1))
    for k in worst_first + sorted(even - set(worst_first)):
        s = scores[k]
        if k not in pictures or s is None:
            continue
        kind = "worst" if k in worst_first else "even"
        label = [
            f"{kind}: frame {k} (footage {index[k]})",
            f"ratio {s.ratio:.3f} (depth {s.depth_px} px), jaw {s.jaw_ratio:.3f}",
            f"border ring {s.border_ratio:.3f}",
        ]
        tiles.append(sheet_tile(*pictures[k], label))
    sheet = out_dir / f"{name}_seam.png"
    if tiles:
        write_png(sheet, contact_sheet(tiles))
    ratios = np.array([s.ratio if s is not None else np.nan for s in scores])
    return {
        "profile": str(profile_path),
        "speech": str(speech_path),
        "dub": str(output),
        "frames": n,
        "fps": str(result.fps),
        "background": result.background,
        "cross_fade_frames_left_out": int(mixed.sum()),
        "identical_frames": identical,
        "dub_seconds": round(dub_seconds, 1),
        "band_px": sorted({s.band_px for s in measured}),
        "seam": overall.to_dict(),
        "seam_jaw": jaw.to_dict(),
        "seam_border_ring": border.to_dict(),
        "worst_frames": [int(k) for k in np.argsort(-np.abs(np.nan_to_num(ratios, nan=1.0) - 1))[:5]],
        "contact_sheet": str(sheet) if tiles else None,
        "per_frame_ratio": [None if not np.isfinite(r) else round(float(r), 4) for r in ratios],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("profile", type=Path)
    parser.add_argument("speech", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "seam")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--sheet", type=int, default=6, help="worst and evenly spaced frames on the sheet")
    args = parser.parse_args()
    reports = []
    print("| dub | frames | seam median | p95 | max | within 10 % | jaw median | jaw max | jaw within |")
    print("|---|---|---|---|---|---|---|---|---|")
    for speech in args.speech:
        report = measure_dub(args.profile, speech, args.out, args.sheet)
        reports.append(report)
        s, j = report["seam"], report["seam_jaw"]
        print(
            f"| {args.profile.name} + {speech.name} | {s['measured']}/{report['frames']} | "
            f"{s['median']:.3f} | {s['p95']:.3f} | {s['max']:.3f} | {100 * s['within']:.1f} % | "
            f"{j['median']:.3f} | {j['max']:.3f} | {100 * j['within']:.1f} % |",
            flush=True,
        )
        print(
            f"  identical to the recomputed frames: {report['identical_frames']}; cross-fade frames left "
            f"out: {report['cross_fade_frames_left_out']}; band k = {report['band_px']} px; "
            f"sheet: {report['contact_sheet']}",
            flush=True,
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(reports, indent=1))


if __name__ == "__main__":
    main()
