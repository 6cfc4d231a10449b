"""Quieting native libraries.

mediapipe's C++ core (absl/glog, TFLite) writes warnings straight to file descriptor 2 when a graph starts
("Created TensorFlow Lite XNNPACK delegate", "Feedback manager requires ..."). They mean nothing to a user
and break the one-line-error promise, so the short calls that start graphs run with fd 2 pointed at a
temporary file; after the block its content is in the yielded object's ``text``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator


class _Captured:
    text: str = ""


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[_Captured]:
    """Redirect fd 2 (C/C++ writes included) for the duration of the block."""
    captured = _Captured()
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.text = sink.read().decode("utf-8", "replace")
