"""One in-process ``dub`` with the phoneme posteriors computed ahead (as shipped) or not: the A/B of
``PosteriorStream(ahead=1)``.

    .venv/bin/python bench/dub_prefetch.py new|old PROFILE SPEECH

``old`` drops ``SpeechFrames.gated``'s ``prefetch``, so each 20 s chunk is recognised when the render first
needs it, on the render's thread. Run the two alternately, several times, on an idle machine (under
``/usr/bin/time`` for the CPU it took); the outputs are identical.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import s2l_model.render.batch as render_batch  # noqa: E402
from s2l_model.dub import DubOptions, dub  # noqa: E402


def main() -> None:
    if len(sys.argv) != 4 or sys.argv[1] not in ("new", "old"):
        sys.exit(__doc__)
    mode, profile, speech = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    if mode == "old":
        gated = render_batch.SpeechFrames.gated.__func__

        def without_prefetch(cls, *args, prefetch=(), **kwargs):
            return gated(cls, *args, **kwargs)

        render_batch.SpeechFrames.gated = classmethod(without_prefetch)
    with tempfile.TemporaryDirectory(prefix="s2l-dub-prefetch-") as tmp:
        started = time.perf_counter()
        result = dub(profile, speech, Path(tmp) / "dub.mp4", DubOptions(overwrite=True))
        wall = time.perf_counter() - started
    print(f"{mode}: {result.frames} frames in {wall:.1f} s = {result.frames / wall:.1f} frames/s", flush=True)


if __name__ == "__main__":
    main()
