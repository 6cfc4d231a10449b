"""Seconds per stage-2 training step on a build's training set, for comparing two trees back to back.

    PYTHONPATH=TREE .venv/bin/python bench/train_step.py WORKDIR/trainset [--steps 70] [--expert-steps 20]

Trains the fast preset for a fixed number of steps (the expert first, briefly) and prints the mean time of
the steps after the first 10 (warm-up), from the trainer's own progress callbacks.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from s2l_model.dataset.trainset import load_training_set
from s2l_model.engine.config import load_preset
from s2l_model.engine.trainer import Progress, Trainer

WARM_UP = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trainset", type=Path)
    parser.add_argument("--steps", type=int, default=70)
    parser.add_argument("--expert-steps", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        preset_file = Path(tmp) / "steps.toml"
        preset_file.write_text(
            f'extends = "fast"\n[train]\nsteps = {args.steps}\nsync_expert_steps = {args.expert_steps}\n'
            "budget_minutes = 600.0\ncheckpoint_seconds = 1e6\nheldout_every_seconds = 1e6\n"
        )
        trainer = Trainer(
            load_training_set(args.trainset), load_preset(str(preset_file)), torch.device("cpu"), Path(tmp)
        )
        seen: dict[int, float] = {}

        def on_progress(p: Progress) -> None:
            if p.stage == "training":
                seen.setdefault(p.step, time.perf_counter())

        trainer.train(time.monotonic() + 36000, on_progress)
    steps = sorted(seen)
    first, last = steps[WARM_UP - 1], steps[-1]
    print(f"{(seen[last] - seen[first]) / (last - first):.3f} s/step over steps {first + 1}-{last}")


if __name__ == "__main__":
    main()
