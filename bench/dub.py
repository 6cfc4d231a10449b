"""`s2l dub` on real speech: speed, peak memory, sync, contact sheets and the background's turn points.

    .venv/bin/python bench/dub.py PROFILE.prof SPEECH... [--out bench/out/dub] [--start S] [--background M]
                                  [--device cpu|cuda] [--json bench/out/dub.json]

Each SPEECH is dubbed by the CLI in a child process (wall time and peak RSS from the OS, everything
included: decode, tracks, model, encode, mux). Then, per output:

- sync: the profile-free envelope correlation of `s2l evaluate --pred` (mouth opening from the face mesh
  against the speech's loudness envelope), and the profile's sync expert (per-speaker proxy) on the
  output's mouths warped to canonical space;
- turn points: where the background wraps or turns (from the same schedule the dub used), the mean
  absolute frame difference there over the median frame difference of the whole output (≤ 2: no jump),
  and the largest frame difference anywhere over the median (the footage's own cuts show up here);
- a contact sheet of 16 mouths spread over the output, for looking at.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from s2l_model.dub.background import plan_schedule, thumbnails  # noqa: E402
from s2l_model.dub.footage import FootageTracks  # noqa: E402
from s2l_model.evaluate.expert import canonical_mouths, expert_sync  # noqa: E402
from s2l_model.media import iter_frames, load_speech, probe_video  # noqa: E402
from s2l_model.media.atomic import write_json, write_png  # noqa: E402
from s2l_model.prepare.inspect import contact_sheet  # noqa: E402
from s2l_model.profile.speaker import SpeakerProfile  # noqa: E402

SHEET_TILES = 16


def run_dub(profile: Path, speech: Path, out: Path, extra: list[str]) -> tuple[dict, float]:
    """The CLI's JSON result and the child's peak RSS in MB (GNU time)."""
    cmd = ["/usr/bin/time", "-f", "maxrss_kb=%M", sys.executable, "-m", "s2l_cli", "dub", str(profile)]
    cmd += [str(speech), "-o", str(out), "--force", "--json", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"dub failed: {proc.stderr.strip().splitlines()[-1]}")
    result = json.loads(proc.stdout.splitlines()[-1])
    rss = re.search(r"maxrss_kb=(\d+)", proc.stderr)
    return result, (int(rss.group(1)) / 1024 if rss else float("nan"))


def envelope_sync(video: Path) -> float | None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "s2l_cli",
            "evaluate",
            "--pred",
            str(video),
            "--no-report",
            "--no-phones",
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        return None
    summary = json.loads(proc.stdout.splitlines()[-1])["summary"]
    rows = [r for r in summary if r["metric"] == "Sync" and "envelope" in r["variant"]]
    return rows[0]["prediction"] if rows else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("profile", type=Path)
    ap.add_argument("speech", type=Path, nargs="+")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "dub")
    ap.add_argument("--start", type=float, default=0.0)
    ap.add_argument("--background", default="loop")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-sync", action="store_true", help="Only speed and memory.")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    profile = SpeakerProfile.load(args.profile)
    tracks = FootageTracks.from_profile(profile)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        footage = profile.extract_footage(Path(tmp))
        for speech in args.speech:
            out = args.out / f"{speech.stem}.mp4"
            extra = ["--start", str(args.start), "--background", args.background, "--device", args.device]
            result, rss_mb = run_dub(args.profile, speech, out, extra)
            row = {
                "speech": speech.name,
                "seconds": result["seconds"],
                "frames": result["frames"],
                "wall_s": result["wall_seconds"],
                "frames_per_s": result["frames_per_second"],
                "peak_rss_mb": round(rss_mb, 1),
                "background": result["background"],
                "speaking_share": result["speaking_share"],
            }
            if not args.no_sync:
                row.update(score(profile, tracks, footage, out, speech, args))
            rows.append(row)
            print(json.dumps(row), flush=True)
    report = {
        "profile": str(args.profile),
        "preset": profile.manifest.preset_name,
        "device": args.device,
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
        "command": " ".join(sys.argv),
        "rows": rows,
    }
    if args.json:
        write_json(args.json, report)


def score(
    profile: SpeakerProfile, tracks: FootageTracks, footage: Path, out: Path, speech: Path, args
) -> dict:
    """Sync scores, turn-point jumps and a contact sheet of one output."""
    info = probe_video(out)
    assert info.video is not None
    n = info.video.n_frames
    schedule = plan_schedule(
        args.background,
        usable=tracks.usable,
        footage_fps=tracks.fps,
        out_fps=info.video.fps,
        n_out=n,
        start_frame=round(args.start * tracks.fps),
        thumbnails_of=lambda first, count: thumbnails(footage, first, count, tracks.fps),
    )
    index = schedule.frames(0, n)
    # output frame k → k+1 is a wrap (a step other than 0 or ±1) or a turn (the direction changes)
    step = np.diff(index)
    turns = np.flatnonzero((np.abs(step) > 1) | (np.r_[False, (step[1:] != step[:-1]) & (step[1:] != 0)]))
    picks = set(np.linspace(0, n - 1, SHEET_TILES).astype(int).tolist())
    steps: list[float] = []
    tiles: list[np.ndarray] = []
    box = profile.model.layout.blend_box

    def frames():  # one pass over the output: frame differences and sheet tiles on the way to the expert
        previous = None
        for k, frame in enumerate(iter_frames(out)):
            grey = frame.astype(np.float32).mean(axis=2)
            if previous is not None:
                steps.append(float(np.abs(grey - previous).mean()))
            previous = grey
            if k in picks:
                x, y = (int(v) for v in tracks.origins[index[k]])
                w, h = profile.model.layout.crop_size
                tiles.append(frame[y : y + h, x : x + w])
            yield int(index[k]), frame

    mouths = canonical_mouths(profile, frames())
    steps_a = np.array(steps)
    median = float(np.median(steps_a)) if len(steps_a) else 0.0
    jumps = [round(float(steps_a[k]) / max(median, 1e-9), 2) for k in turns if k < len(steps_a)]
    write_png(
        args.out / f"{out.stem}_sheet.png", contact_sheet(tiles, columns=4, tile=min(256, box.width * 2))
    )
    expert = expert_sync(profile, mouths, load_speech(speech), "expert")
    return {
        "envelope_sync_r": envelope_sync(out),
        "expert_sync": round(expert.score, 4),
        "expert_offset_frames": expert.offset,
        "turns": len(turns),
        "turn_jump_over_median": jumps[:10],
        "max_turn_jump_over_median": max(jumps) if jumps else None,
        "max_step_over_median": round(float(steps_a.max()) / max(median, 1e-9), 2) if len(steps_a) else None,
    }


if __name__ == "__main__":
    main()
