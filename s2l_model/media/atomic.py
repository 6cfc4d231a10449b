"""Atomic outputs: write to a temporary file beside the target, rename on success.

A crash, an error or Ctrl-C never leaves a half-written file at the target path.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from s2l_model.errors import InputError


def check_output_path(path: str | os.PathLike[str], *, overwrite: bool = True) -> Path:
    """Validate an output path before any work starts; return it as a Path.

    The folder must already exist: creating folders the user did not ask for hides typos.
    """
    out = Path(path)
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.exists():
        raise InputError(f"output folder does not exist: {parent}")
    if not parent.is_dir():
        raise InputError(f"output folder is not a folder: {parent}")
    if out.is_dir():
        raise InputError(f"output path is a folder, expected a file name: {out}")
    if out.exists() and not overwrite:
        raise InputError(f"output exists: {out} (pass --force to overwrite)")
    if not os.access(parent, os.W_OK):
        raise InputError(f"output folder is not writable: {parent}")
    return out


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str], *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``path`` if the block succeeds.

    The temporary name keeps the real suffix (tools that look at extensions still work) and starts
    with a dot so that file browsers hide it while it is being written.
    """
    out = check_output_path(path, overwrite=overwrite)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=f".part{out.suffix}", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp makes the file private (0600); give it the permissions a normal write would.
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_png(path: Path, image: np.ndarray) -> None:
    """An RGB or grey uint8 image as PNG, atomically."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    with atomic_output(path) as tmp:
        if not cv2.imwrite(str(tmp), image):
            raise OSError(f"could not write {path}")


def write_json(path: Path, data: dict[str, Any]) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")
