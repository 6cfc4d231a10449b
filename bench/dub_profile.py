"""Where a dub's time goes: one ``s2l dub`` in this process under cProfile, the top functions printed.

    python bench/dub_profile.py PROFILE SPEECH [-o OUT.mp4] [--top N]

The profiler adds about 25 % to the wall time; read the shares, not the total (``bench/dub.py`` times the
dub itself)."""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
from pathlib import Path

from s2l_model.dub import DubOptions, dub


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("profile", type=Path)
    parser.add_argument("speech", type=Path)
    parser.add_argument("-o", "--output", type=Path, default=None, help="the dub (default: a temporary file)")
    parser.add_argument("--top", type=int, default=40, help="functions listed per ordering")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="s2l-dub-profile-") as tmp:
        output = args.output or Path(tmp) / "dub.mp4"
        profiler = cProfile.Profile()
        profiler.enable()
        result = dub(args.profile, args.speech, output, DubOptions(overwrite=True))
        profiler.disable()
    print(f"{result.frames} frames in {result.wall_seconds:.1f} s under the profiler")
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(args.top)
    stats.sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
