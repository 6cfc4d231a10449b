"""Per-frame arrays written to and read from ``.npy`` files a block at a time (flat memory)."""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import numpy as np

_HEADER_BYTES = 128  # fixed, so the final shape can be written once the frame count is known


def _header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    text = repr({"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape})
    body_len = _HEADER_BYTES - 10  # magic (6) + version (2) + header length (2)
    body = text.encode("latin1").ljust(body_len - 1) + b"\n"
    if len(body) != body_len:
        raise ValueError(f"npy header too long for shape {shape}")
    return b"\x93NUMPY\x01\x00" + body_len.to_bytes(2, "little") + body


class NpyAppender:
    """Writes rows (each of ``row_shape``) to a standard ``.npy`` file as they come.

    The file is written beside the target and renamed into place on a clean close, so a crash never
    leaves a truncated array under the final name.
    """

    def __init__(
        self, path: str | os.PathLike[str], row_shape: tuple[int, ...], dtype: np.dtype | type
    ) -> None:
        self.path = Path(path)
        self.row_shape = tuple(row_shape)
        self.dtype = np.dtype(dtype)
        self.rows = 0
        self._tmp = self.path.with_name(f".{self.path.name}.partial")
        self._file = open(self._tmp, "wb")  # noqa: SIM115 - closed in close()/__exit__
        self._file.write(_header(self.dtype, (0, *self.row_shape)))

    def append(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=self.dtype)
        if block.shape[1:] != self.row_shape:
            block = block.reshape(-1, *self.row_shape)
        self._file.write(block.tobytes())
        self.rows += len(block)

    def close(self) -> Path:
        self._file.seek(0)
        self._file.write(_header(self.dtype, (self.rows, *self.row_shape)))
        self._file.close()
        os.replace(self._tmp, self.path)
        return self.path

    def discard(self) -> None:
        self._file.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> NpyAppender:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()


def _read_header(f: BinaryIO) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f)
    return np.lib.format.read_array_header_2_0(f)


def npy_rows(path: str | os.PathLike[str]) -> int:
    """Number of rows (first dimension) of an ``.npy`` file, read from its header."""
    with open(path, "rb") as f:
        shape, _, _ = _read_header(f)
    return int(shape[0])


def read_rows(path: str | os.PathLike[str], start: int, stop: int) -> np.ndarray:
    """Rows [start, stop) of an ``.npy`` file without mapping or reading the rest of it."""
    with open(path, "rb") as f:
        shape, fortran, dtype = _read_header(f)
        if fortran:
            raise ValueError(f"{path}: Fortran-ordered arrays are not supported")
        start, stop = max(0, start), min(int(shape[0]), stop)
        row_items = int(np.prod(shape[1:], dtype=np.int64))
        f.seek(f.tell() + start * row_items * dtype.itemsize)
        data = np.fromfile(f, dtype=dtype, count=max(0, stop - start) * row_items)
    return data.reshape(max(0, stop - start), *shape[1:])
