"""Locating and running the ffmpeg binary.

Default: the static ffmpeg that the ``imageio-ffmpeg`` wheel ships (H.264, AAC, ProRes, FFV1), so nothing
has to be installed on the system. ``S2L_FFMPEG`` points to another binary. Arguments are always passed
as lists (never through a shell).
"""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path

from s2l_model.errors import InputError

#: Flags for every ffmpeg call: quiet, never read the terminal, overwrite the (temporary) target.
GLOBAL_ARGS = ("-hide_banner", "-nostdin", "-loglevel", "error")


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary to run."""
    override = os.environ.get("S2L_FFMPEG")
    if override:
        found = shutil.which(override) or (override if Path(override).is_file() else None)
        if not found or not os.access(found, os.X_OK):
            raise InputError(f"S2L_FFMPEG={override!r} is not an executable ffmpeg")
        return found
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def last_error_line(stderr: str) -> str:
    """The most useful single line of ffmpeg's error output."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    return lines[-1] if lines else "no error message"
