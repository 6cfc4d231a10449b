"""`s2l batch` wall time with 1 and N workers on the same 8 jobs (issue 7's bench).

    .venv/bin/python bench/batch.py PROFILE.prof SPEECH... [--jobs 8] [--workers 1 2] [--executor local|ray]
        [--out bench/out/batch]

Writes a timeline CSV of ``--jobs`` rows cycling through the SPEECH files, runs `s2l batch` on it once per
worker count (fresh output folder each time, CLI in a child process) and prints wall time and speed-up.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("profile", type=Path)
    ap.add_argument("speech", type=Path, nargs="+")
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--executor", choices=["local", "ray"], default="local")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "batch")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    timeline = args.out / "timeline.csv"
    rows = ["id,profile,speech,output"]
    for k in range(args.jobs):
        speech = args.speech[k % len(args.speech)].resolve()
        rows.append(f"job{k},{args.profile.resolve()},{speech},job{k}.mp4")
    timeline.write_text("\n".join(rows) + "\n")
    seconds: dict[int, float] = {}
    for workers in args.workers:
        out = args.out / f"{args.executor}{workers}"
        shutil.rmtree(out, ignore_errors=True)
        started = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "s2l_cli",
                "batch",
                str(timeline),
                "-o",
                str(out),
                "--workers",
                str(workers),
                "--executor",
                args.executor,
                "--json",
            ],
            capture_output=True,
            text=True,
        )
        seconds[workers] = time.perf_counter() - started
        summary = json.loads(proc.stdout.splitlines()[-1])
        print(
            json.dumps(
                {
                    "executor": args.executor,
                    "workers": workers,
                    "jobs": args.jobs,
                    "wall_s": round(seconds[workers], 1),
                    "done": summary.get("done"),
                    "failed": summary.get("failed"),
                    "speed_up": round(seconds[args.workers[0]] / seconds[workers], 2),
                    "cores": os.cpu_count(),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
