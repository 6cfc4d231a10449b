"""Ablations on the fast preset, like the paper's Table 5 (issue 5).

    .venv/bin/python bench/ablations.py [--video ../shared/data/speakers/cnn_anchor_71s.mp4]
        [--only NAME ...] [--minutes 5] [--out bench/out/ablations]

Each variant is a complete `s2l profile build --preset VARIANT.toml` (a TOML that `extends = "fast"`,
changes one key, and caps training at `--minutes`, default 5, for every row alike so the table fits in an
hour of CPU), run one after the other on this machine, and measured by the build's own held-out check (the
last 10 % of the video, rendered from its own speech).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from s2l_model.profile.manifest import read_speaker_manifest  # noqa: E402

VARIANTS: dict[str, str] = {
    "full model (fast)": "",
    "w/o continuous sampling": "[train]\ncontinuous_sampling = false\n",
    "w/o Blend-Net": "[train]\nblend_net = false\n",
    "w/o sync loss": "[train]\nsync_loss = false\n",
    "w/o time code": "[model]\nuse_time = false\n",
    "pure implicit MLP (no base image)": "[model]\nbase_image = false\n",
}
COLUMNS = [
    ("psnr_mouth", "mouth PSNR dB ↑"),
    ("ssim_mouth", "mouth SSIM ↑"),
    ("lmd_px", "LMD px ↓"),
    ("sync/prediction/envelope", "sync env. r ↑"),
    ("sync/prediction/phones", "sync phones d' ↑"),
    ("sync/prediction/expert", "own expert cos ↑"),
    ("psnr_frame", "frame PSNR dB ↑"),
]


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_").lower()


def build(video: Path, name: str, override: str, out: Path, minutes: float) -> Path:
    preset = out / f"{slug(name)}.toml"
    # one budget for every row: a [train] table of the override gets the key too
    if "[train]" in override:
        text = override.replace("[train]\n", f"[train]\nbudget_minutes = {minutes}\n")
    else:
        text = f"{override}[train]\nbudget_minutes = {minutes}\n"
    preset.write_text(f'extends = "fast"\nname = "{slug(name)}"\n{text}')
    profile = out / f"{slug(name)}.prof"
    cmd = [sys.executable, "-m", "s2l_cli", "profile", "build", str(video), "-o", str(profile)]
    cmd += ["--preset", str(preset), "--force", "--json"]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{name}: build failed: {proc.stderr.strip().splitlines()[-1:]}")
    print(f"{name}: built in {(time.perf_counter() - started) / 60:.1f} min", flush=True)
    return profile


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--video", type=Path, default=ROOT.parent / "shared/data/speakers/cnn_anchor_71s.mp4")
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--minutes", type=float, default=5.0, help="training budget of every variant")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "ablations")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = {}
    for name, override in VARIANTS.items():
        if args.only is not None and name not in args.only and slug(name) not in args.only:
            continue
        profile = build(args.video, name, override, args.out, args.minutes)
        m = read_speaker_manifest(profile)
        rows[name] = {**m.metrics, "steps": m.training.steps, "train_min": m.training.seconds / 60}
        (args.out / "ablations.json").write_text(json.dumps(rows, indent=2))
    header = "| variant | " + " | ".join(label for _, label in COLUMNS) + " | steps | train min |"
    print(header)
    print("|---" * (len(COLUMNS) + 3) + "|")
    for name, m in rows.items():
        cells = ["n/a" if m.get(k) is None else f"{m[k]:.3f}" for k, _ in COLUMNS]
        print(f"| {name} | " + " | ".join(cells) + f" | {m['steps']} | {m['train_min']:.1f} |")


if __name__ == "__main__":
    main()
