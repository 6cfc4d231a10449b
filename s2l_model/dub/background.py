"""Background motion for a dub: which footage frame shows behind each output frame, and decoding them.

A dub is usually longer or shorter than the footage. From ``--start`` on, the footage plays at its own
speed (resampled by nearest frame when the output's rate differs) through the run of tracked frames that
starts there; when the speech outlasts that run:

- ``loop`` plays it again from the start. The loop's end is chosen where the footage comes back closest to
  its first frame (small thumbnails, mean absolute difference), so the wrap shows no jump; when no frame is
  close enough (the jump would exceed twice the footage's median frame-to-frame difference) it turns back
  instead, as ``pingpong`` does, and says so.
- ``pingpong`` plays it backwards from the end, then forwards again: never a jump, motion reverses.
- ``hold`` shows the start frame throughout (a still head; the lips still move).

Frames are decoded in schedule order with memory bounded by ``cache_bytes``: forward runs stream from one
ffmpeg process; backward runs decode a chunk forwards and hand it out in reverse.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import numpy as np

from s2l_model.errors import InputError
from s2l_model.media import iter_frames, seek_seconds
from s2l_model.media.probe import MediaInfo

BackgroundMode = Literal["loop", "pingpong", "hold"]
BACKGROUND_MODES: tuple[BackgroundMode, ...] = ("loop", "pingpong", "hold")

#: A loop must be at least this share of the tracked run (a short loop repeats visibly).
MIN_LOOP_SHARE = 0.5
#: A wrap whose jump is above this many median frame differences turns back instead.
MAX_JUMP_RATIO = 2.0
#: Frames compared after a candidate loop end (a run, so that the direction of motion matches too).
MATCH_FRAMES = 3
THUMB_WIDTH = 64


@dataclass(frozen=True)
class Schedule:
    """Footage frame of every output frame: ``first`` … ``last`` (inclusive) played as ``mode``."""

    mode: BackgroundMode
    first: int
    last: int
    out_fps: Fraction
    footage_fps: Fraction
    note: str | None = None

    def virtual(self, k: np.ndarray) -> np.ndarray:
        """Footage frames after ``first`` at output frames ``k`` if the footage never ended (nearest)."""
        ratio = self.footage_fps / self.out_fps  # footage frames per output frame
        return (2 * k * ratio.numerator + ratio.denominator) // (2 * ratio.denominator)

    def frames(self, lo: int, hi: int) -> np.ndarray:
        """(hi - lo,) footage frame index of output frames lo … hi - 1."""
        v = self.virtual(np.arange(lo, hi, dtype=np.int64))
        length = self.last - self.first + 1
        if self.mode == "hold" or length == 1:
            return np.full(hi - lo, self.first, np.int64)
        if self.mode == "loop":
            return self.first + v % length
        period = 2 * (length - 1)
        p = v % period
        return self.first + np.where(p < length, p, period - p)


def plan_schedule(
    mode: BackgroundMode,
    *,
    usable: np.ndarray,
    footage_fps: Fraction,
    out_fps: Fraction,
    n_out: int,
    start_frame: int,
    thumbnails_of: Callable[[int, int], np.ndarray] | None = None,
) -> Schedule:
    """The schedule for ``n_out`` output frames from footage frame ``start_frame`` on.

    ``usable`` (N,) marks the tracked footage frames; ``thumbnails_of(first, count)`` gives small grey
    images of footage frames, to choose a loop's end (called only when a loop is needed)."""
    n = len(usable)
    if mode not in BACKGROUND_MODES:
        raise InputError(f"unknown background {mode!r}; choose one of {', '.join(BACKGROUND_MODES)}")
    if not 0 <= start_frame < n:
        raise InputError(
            f"--start {float(start_frame / footage_fps):.2f} s is beyond the footage's end "
            f"({float(n / footage_fps):.2f} s)"
        )
    if not usable[start_frame]:
        raise InputError(
            f"the face is not tracked at --start {float(start_frame / footage_fps):.2f} s; "
            "choose another start"
        )
    lost = np.flatnonzero(~usable[start_frame:])
    run_end = start_frame + (int(lost[0]) - 1 if len(lost) else n - 1 - start_frame)
    base = Schedule(mode, start_frame, run_end, out_fps, footage_fps)
    if mode == "hold":
        return Schedule(mode, start_frame, start_frame, out_fps, footage_fps)
    needed = int(base.virtual(np.array([max(0, n_out - 1)]))[0])
    if start_frame + needed <= run_end:  # the footage is long enough: it just plays
        return Schedule(mode, start_frame, start_frame + needed, out_fps, footage_fps)
    if mode == "pingpong" or run_end == start_frame:
        return base
    if thumbnails_of is None:
        raise ValueError("a loop needs thumbnails of the footage")
    end, jump, median = choose_loop_end(thumbnails_of(start_frame, run_end - start_frame + 1))
    if jump > MAX_JUMP_RATIO * median:
        note = (
            f"the footage never returns close to its start (best wrap {jump / max(median, 1e-9):.1f}× the "
            "median frame difference): playing it back and forth instead of looping"
        )
        return Schedule("pingpong", start_frame, run_end, out_fps, footage_fps, note)
    return Schedule("loop", start_frame, start_frame + end, out_fps, footage_fps)


def choose_loop_end(thumbnails: np.ndarray) -> tuple[int, float, float]:
    """(end, jump, median): the frame after which the footage wraps to frame 0, the change at the wrap, and
    the median frame-to-frame change.

    The end is chosen (in the last ``1 - MIN_LOOP_SHARE`` of the footage) where the few frames that would
    have come next look most like frames 0, 1, 2: then the wrap continues the motion as well as the
    picture (one frame alone matches a head passing its start position in the opposite direction)."""
    thumbs = thumbnails.astype(np.float32)
    n = len(thumbs)
    steps = np.abs(np.diff(thumbs, axis=0)).mean(axis=(1, 2)) if n > 1 else np.zeros(1)
    run = min(MATCH_FRAMES, n // 4)
    if run < 1:
        end = n - 1
    else:
        first = min(n - 1 - run, max(1, int(np.ceil(MIN_LOOP_SHARE * (n - 1)))))
        candidates = np.arange(first, n - run)
        follow = sum(np.abs(thumbs[candidates + 1 + j] - thumbs[j]).mean(axis=(1, 2)) for j in range(run))
        end = int(candidates[int(np.argmin(follow))])
    jump = float(np.abs(thumbs[end] - thumbs[0]).mean())
    return end, jump, float(np.median(steps))


def thumbnails(video: str | os.PathLike[str], first: int, count: int, fps: Fraction) -> np.ndarray:
    """(count, h, THUMB_WIDTH) float32 grey thumbnails of frames first … first + count - 1."""
    out = []
    for frame in iter_frames(video, start=seek_seconds(first, fps), max_frames=count, width=THUMB_WIDTH):
        out.append(frame.astype(np.float32).mean(axis=2))
    return np.stack(out) if out else np.zeros((0, 1, THUMB_WIDTH), np.float32)


class FootageFrames:
    """Decodes footage frames in any order a schedule asks for, with bounded memory."""

    def __init__(
        self, video: Path, fps: Fraction, info: MediaInfo, *, cache_bytes: int = 128 * 2**20
    ) -> None:
        assert info.video is not None
        self.video, self.fps, self.info = video, fps, info
        frame_bytes = 3 * info.video.width * info.video.height
        self.chunk = max(1, cache_bytes // frame_bytes)
        self._stream: Iterator[np.ndarray] | None = None
        self._next = -1  # footage index the stream yields next
        self._cache: dict[int, np.ndarray] = {}
        self._current: tuple[int, np.ndarray] | None = None

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()  # type: ignore[attr-defined]
            self._stream = None

    def _open(self, frame: int) -> None:
        self.close()
        self._stream = iter_frames(self.video, start=seek_seconds(frame, self.fps), info=self.info)
        self._next = frame

    def _read(self) -> np.ndarray:
        assert self._stream is not None
        try:
            frame = next(self._stream)
        except StopIteration:
            raise InputError(f"{self.video.name} ended before frame {self._next}") from None
        self._next += 1
        return frame

    def get(self, index: int, upcoming: int | None) -> np.ndarray:
        """Footage frame ``index``; ``upcoming`` is the index asked for next (None at the end), which tells a
        backward run (decode a chunk, hand it out in reverse) from a forward one (stream)."""
        if self._current is not None and self._current[0] == index:
            return self._current[1]
        if index in self._cache:
            frame = self._cache[index]
        elif upcoming is not None and upcoming < index:  # going backwards: decode the chunk ending here
            self._cache.clear()
            lo = max(0, index - self.chunk + 1)
            self._open(lo)
            for k in range(lo, index + 1):
                self._cache[k] = self._read()
            self.close()
            frame = self._cache[index]
        else:
            if self._stream is None or not self._next <= index < self._next + self.chunk:
                self._open(index)
            while self._next <= index:
                frame = self._read()
        self._current = (index, frame)
        return frame

    def in_order(self, index: np.ndarray) -> Iterator[np.ndarray]:
        """Footage frames ``index`` (N,) one after another, each told which comes next."""
        for k in range(len(index)):
            yield self.get(int(index[k]), int(index[k + 1]) if k + 1 < len(index) else None)
