"""Helpers the tests of several packages share: the command line run as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run_s2l(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``s2l ARGS`` in a subprocess. ``timeout`` only stops a hung command: it is far above what any
    command here takes on a machine twice as slow as the slowest seen (training sets its own)."""
    return subprocess.run(
        [sys.executable, "-m", "s2l_cli", *args], capture_output=True, text=True, cwd=cwd, timeout=timeout
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], needle: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and needle in lines[0]
    assert lines[0].startswith("s2l: error:")
