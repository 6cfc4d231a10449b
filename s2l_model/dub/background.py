"""Background motion for a dub: which footage frame shows behind each output frame, and decoding them.

A dub is usually longer or shorter than the footage. From ``--start`` on, the footage plays at its own
speed (resampled by nearest frame when the output's rate differs) through the run of tracked frames that
starts there; when the speech outlasts that run:

- ``loop`` plays it again from the start, cross-fading the loop's tail into its start at every wrap. The
  loop's end and the cross-fade's length (0.2-1 s, at most a quarter of the loop) come from the footage:
  the shortest cross-fade whose steps stay within twice the footage's median frame-to-frame difference
  (small thumbnails), at the end where the two mixed pictures differ least. When even the longest cannot
  hide the wrap it turns back instead, as ``pingpong`` does, and says so.
- ``pingpong`` plays it backwards from the end, then forwards again: never a jump, motion reverses.
- ``hold`` shows the start frame throughout (a still head; the lips still move).

Frames are decoded in schedule order with memory bounded by ``cache_bytes``: forward runs stream from one
ffmpeg process; backward runs decode a chunk forwards, from a keyframe, and hand it out in reverse.
"""

from __future__ import annotations

import os
import tempfile
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
#: The cross-fade at a loop's wrap lasts at least / at most this long (seconds) ...
MIN_DISSOLVE_SECONDS = 0.2
MAX_DISSOLVE_SECONDS = 1.0
#: ... and at most this share of the loop, so most of every cycle plays unmixed.
MAX_DISSOLVE_SHARE = 0.25
#: An aligned dissolve (one head gliding between two framings, no double image) is made as long as the
#: first of these that both runs allow (within MAX_DISSOLVE_SHARE of the loop): the slower the glide, the
#: smaller each frame's change, and a slow push-in is what a viewer takes for camera work.
ALIGNED_DISSOLVE_SECONDS = (2.0, 1.0)
#: Loop ends (per dissolve length) whose dissolve is measured exactly, the lowest bounds first.
EXACT_CANDIDATES = 16
THUMB_WIDTH = 64


@dataclass(frozen=True)
class Schedule:
    """Footage frame of every output frame: ``first`` … ``last`` (inclusive) played as ``mode``.

    A ``loop`` with a ``dissolve`` of W frames repeats with period L - W (L = last - first + 1): its first
    cycle plays frames 0 … L-W-1 unmixed; every later cycle's first W frames are its frames 0 … W-1 mixed
    with the loop's tail L-W … L-1, whose weight ramps down (``mix``), so the wrap is a cross-fade."""

    mode: BackgroundMode
    first: int
    last: int
    out_fps: Fraction
    footage_fps: Fraction
    note: str | None = None
    dissolve: int = 0  # footage frames of the cross-fade at each loop wrap (loop only)
    #: the two runs of the dissolve are one shot in two framings: render it aligned (``dub.dissolve``)
    aligned: bool = False

    def virtual(self, k: np.ndarray) -> np.ndarray:
        """Footage frames after ``first`` at output frames ``k`` if the footage never ended (nearest)."""
        ratio = self.footage_fps / self.out_fps  # footage frames per output frame
        return (2 * k * ratio.numerator + ratio.denominator) // (2 * ratio.denominator)

    @property
    def period(self) -> int:
        """Footage frames per cycle (loop: the loop less its dissolve; pingpong: there and back)."""
        length = self.last - self.first + 1
        if self.mode == "hold" or length == 1:
            return 1
        return length - self.dissolve if self.mode == "loop" else 2 * (length - 1)

    def frames(self, lo: int, hi: int) -> np.ndarray:
        """(hi - lo,) footage frame index of output frames lo … hi - 1 (in a dissolve: the loop's start side;
        ``mix`` gives the tail frame mixed over it)."""
        v = self.virtual(np.arange(lo, hi, dtype=np.int64))
        length = self.last - self.first + 1
        if self.mode == "hold" or length == 1:
            return np.full(hi - lo, self.first, np.int64)
        p = v % self.period
        if self.mode == "loop":
            return self.first + p
        return self.first + np.where(p < length, p, self.period - p)

    def mix(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """(second, weight) of output frames lo … hi - 1: the footage frame mixed over ``frames`` (hi - lo,)
        int64 and its weight (hi - lo,) float32 in [0, 1) (0, with ``second`` = ``frames``, where none).

        Dissolve position p = 0 … W-1 of a later cycle mixes tail frame L-W+p at weight (W-p)/(W+1): the
        output steps from tail frame L-W-1 (weight 1, the cycle before) to start frame W (weight 1) in
        W + 1 equal steps of the mix."""
        index = self.frames(lo, hi)
        weight = np.zeros(hi - lo, np.float32)
        if self.mode != "loop" or self.dissolve == 0:
            return index, weight
        v = self.virtual(np.arange(lo, hi, dtype=np.int64))
        p = v % self.period
        mixed = (v >= self.period) & (p < self.dissolve)
        second = np.where(mixed, index + self.period, index)
        weight[mixed] = (self.dissolve - p[mixed]) / (self.dissolve + 1)
        return second, weight

    def wraps(self, n_out: int) -> np.ndarray:
        """Output frames (among 0 … n_out-1) where a loop cycle after the first begins (its dissolve's first
        frame), or where pingpong turns; empty for hold and for footage that just plays."""
        v = self.virtual(np.arange(n_out, dtype=np.int64))
        if self.mode == "hold" or self.last == self.first or n_out < 2:
            return np.zeros(0, np.int64)
        if self.mode == "loop":
            cycle = v // self.period
            return 1 + np.flatnonzero(np.diff(cycle) > 0)
        half = v // (self.period // 2)  # pingpong: every half period is a turn
        return 1 + np.flatnonzero(np.diff(half) > 0)


def plan_schedule(
    mode: BackgroundMode,
    *,
    usable: np.ndarray,
    footage_fps: Fraction,
    out_fps: Fraction,
    n_out: int,
    start_frame: int,
    thumbnails_of: Callable[[int, int], np.ndarray] | None = None,
    aligned: Callable[[int, int], bool] | None = None,
) -> Schedule:
    """The schedule for ``n_out`` output frames from footage frame ``start_frame`` on.

    ``usable`` (N,) marks the tracked footage frames; ``thumbnails_of(first, count)`` gives small grey
    images of footage frames, to choose a loop's end and its cross-fade (called only when a loop is
    needed). ``aligned(a, b)``: whether footage frames a and b are one shot in two framings, which the
    dissolve then aligns (``dub.dissolve``). An aligned dissolve shows one head gliding from one framing
    into the other, so it is made as long as allowed: the slower the glide, the smaller each frame's
    change (the shortest dissolve suits only a plain mix, whose double image should not last)."""
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
    choice = choose_loop(thumbnails_of(start_frame, run_end - start_frame + 1), footage_fps)
    if choice.ratio > MAX_JUMP_RATIO:
        longest = dissolve_range(footage_fps, run_end - start_frame + 1)[1]
        note = (
            "the footage never returns close enough to its start for a cross-fade of up to "
            f"{float(longest / footage_fps):.1f} s to hide the wrap (best {choice.ratio:.1f}× the median "
            "frame difference): playing it back and forth instead of looping"
        )
        return Schedule("pingpong", start_frame, run_end, out_fps, footage_fps, note)
    loop_end = start_frame + choice.end
    dissolve, one_shot = choice.dissolve, False
    if aligned is not None and dissolve > 0:
        cap = int(MAX_DISSOLVE_SHARE * (choice.end + 1))
        longer = [min(round(seconds * footage_fps), cap) for seconds in ALIGNED_DISSOLVE_SECONDS]
        for w in [w for w in longer if w > dissolve] + [dissolve]:
            # the first and the last pair of the dissolve must both be one shot in two framings (a cut
            # inside either run would leave pairs no alignment joins); the chosen length is the last resort
            if aligned(start_frame, loop_end + 1 - w) and aligned(start_frame + w - 1, loop_end):
                dissolve, one_shot = w, True
                break
    return Schedule("loop", start_frame, loop_end, out_fps, footage_fps, dissolve=dissolve, aligned=one_shot)


@dataclass(frozen=True)
class LoopChoice:
    """Where a loop wraps: after relative frame ``end``, cross-fading its last ``dissolve`` frames into
    frames 0 … dissolve-1; ``step``: the largest thumbnail step through the dissolve (mean absolute
    difference of consecutive mixed thumbnails; for a plain wrap its jump); ``median``: the footage's
    median step, the scale ``step`` is judged by."""

    end: int
    dissolve: int
    step: float
    median: float

    @property
    def ratio(self) -> float:
        return self.step / max(self.median, 1e-9)


def dissolve_range(fps: Fraction, loop_frames: int) -> tuple[int, int]:
    """(shortest, longest) dissolve in footage frames for a loop of ``loop_frames``: MIN/MAX_DISSOLVE_SECONDS
    at ``fps``, at most MAX_DISSOLVE_SHARE of the loop (at least one frame where the loop has four)."""
    cap = int(MAX_DISSOLVE_SHARE * loop_frames)
    lo = max(1, round(MIN_DISSOLVE_SECONDS * fps))
    hi = max(lo, round(MAX_DISSOLVE_SECONDS * fps))
    return min(lo, cap), min(hi, cap)


def choose_loop(thumbnails: np.ndarray, fps: Fraction) -> LoopChoice:
    """The loop end and dissolve length that hide the wrap best, from grey ``thumbnails`` of the run.

    For an end e and a dissolve of W frames (period P = e + 1 - W), output step q = 0 … W of the dissolve
    goes from mix o(q-1) to o(q), o(p) = a(p) S(p) + (1 - a(p)) T(p), S(p) = frame p, T(p) = frame P + p,
    a(p) = (p + 1) / (W + 1) (o(-1) = frame P - 1, o(W) = frame W). Per pixel (triangle inequality):

        |o(q) - o(q-1)| <= a(q) |ΔS| + (1 - a(q)) |ΔT| + |S(q-1) - T(q-1)| / (W + 1)

    so each step is at most the two runs' own steps, mixed, plus the start/tail difference spread over the
    ramp. Over every end in the last ``1 - MIN_LOOP_SHARE`` of the run and every allowed W
    (``dissolve_range``) the bound ranks the ends, and the ``EXACT_CANDIDATES`` best are measured exactly
    (the mixed thumbnails' largest step). The shortest W whose step stays within ``MAX_JUMP_RATIO`` median
    steps wins (a short dissolve shows two heads at once for the least time); among its ends, the one whose
    two mixed pictures differ least (the faintest double image; a dissolve that merely slows the motion
    down also keeps its steps small, but shows two phases of it at once).
    With none within it, the lowest ratio found comes back (the caller turns back instead). The frames
    are compared pairwise over the whole dissolve, so the motion must continue as well as the picture."""
    thumbs = thumbnails.astype(np.float32)
    n = len(thumbs)
    if n < 2:
        return LoopChoice(max(0, n - 1), 0, 0.0, 0.0)
    steps = np.abs(np.diff(thumbs, axis=0)).mean(axis=(1, 2))  # steps[i]: frame i → i + 1
    median = float(np.median(steps))
    plain = LoopChoice(n - 1, 0, float(np.abs(thumbs[n - 1] - thumbs[0]).mean()), median)
    first_end = min(n - 1, max(1, int(np.ceil(MIN_LOOP_SHARE * (n - 1)))))
    ends = np.arange(first_end, n)
    w_max = dissolve_range(fps, n)[1]
    if w_max < 1:  # too short to cross-fade: a plain wrap, judged by its jump
        return plain
    # diff[i - lo, j]: difference of (tail) frame i >= lo and (start) frame j < w_max
    lo = max(0, first_end - w_max)
    diff = np.stack([np.abs(thumbs[lo:] - thumbs[j]).mean(axis=(1, 2)) for j in range(w_max)], axis=1)
    ranges = np.array([dissolve_range(fps, int(e) + 1) for e in ends]).reshape(-1, 2)
    best: LoopChoice | None = None
    for w in range(1, w_max + 1):
        e = ends[(ranges[:, 0] <= w) & (w <= ranges[:, 1]) & (ends + 1 - w >= w)]  # tail after start
        if not len(e):
            continue
        period = e + 1 - w
        a0 = 1 / (w + 1)
        bound = (1 - a0) * steps[period - 1] + a0 * diff[period - 1 - lo, 0]  # frame P-1 → first mix
        ghost = np.zeros(len(e))  # how unlike the two mixed pictures are: the double image's strength
        for q in range(1, w + 1):
            a = (q + 1) / (w + 1) if q < w else 1.0
            tail = period + q - 1  # T(q-1)
            natural = a * steps[q - 1] + (1 - a) * steps[np.minimum(tail, n - 2)]
            ghost = np.maximum(ghost, diff[tail - lo, q - 1])
            bound = np.maximum(bound, natural + diff[tail - lo, q - 1] / (w + 1))
        # the bound ranks the ends; the few best are measured exactly (the mixed thumbnails' own steps)
        top = np.argsort(bound)[:EXACT_CANDIDATES]
        exact = _dissolve_steps(thumbs, period[top], w).max(axis=1)
        fits = exact <= MAX_JUMP_RATIO * median
        if fits.any():  # the least double image among the dissolves that hide the wrap
            k = int(np.flatnonzero(fits)[np.argmin(ghost[top][fits])])
            return LoopChoice(int(e[top[k]]), w, float(exact[k]), median)
        k = int(np.argmin(exact))
        if best is None or exact[k] < best.step:
            best = LoopChoice(int(e[top[k]]), w, float(exact[k]), median)
    return best if best is not None else plain  # None: no end leaves room for a dissolve


def _dissolve_steps(thumbs: np.ndarray, periods: np.ndarray, w: int) -> np.ndarray:
    """(len(periods), w + 1) mean absolute steps of the thumbnails through a dissolve of ``w`` frames for
    each loop period: from frame P - 1 through the w mixes to frame w."""
    a = (np.arange(w) + 1)[None, :, None, None] / (w + 1)
    start = thumbs[:w][None]
    tail = thumbs[periods[:, None] + np.arange(w)[None]]
    mixes = a * start + (1 - a) * tail
    run = np.concatenate(
        [thumbs[periods - 1][:, None], mixes, thumbs[w][None, None].repeat(len(periods), 0)], 1
    )
    return np.abs(np.diff(run, axis=1)).mean(axis=(2, 3))


def thumbnails(video: str | os.PathLike[str], first: int, count: int, fps: Fraction) -> np.ndarray:
    """(count, h, THUMB_WIDTH) float32 grey thumbnails of frames first … first + count - 1."""
    out = []
    for frame in iter_frames(video, start=seek_seconds(first, fps), max_frames=count, width=THUMB_WIDTH):
        out.append(frame.astype(np.float32).mean(axis=2))
    return np.stack(out) if out else np.zeros((0, 1, THUMB_WIDTH), np.float32)


#: The ffmpeg command line seeks this much before the time asked in formats that seek by decoding time
#: (not by presentation time) when a stream has B-frames (fftools: "dts heuristic", 3/23 s).
DTS_SEEK_EARLY = Fraction(3, 23)
AVFMT_SEEK_TO_PTS = 0x4000000  # libavformat's flag of formats that seek by presentation time


@dataclass(frozen=True)
class SeekPoints:
    """Where a decode can begin without decoding frames it then drops: ``starts`` (K,) sorted footage
    frames, and ``seconds`` (K,) the ``iter_frames`` start that hands out exactly that frame first while
    ffmpeg's decoder starts at the keyframe at or before it."""

    starts: np.ndarray
    seconds: np.ndarray

    def chunk_start(self, index: int, chunk: int) -> tuple[int, float]:
        """(first frame, seek seconds) of a backward chunk ending at ``index``: the earliest start within
        ``chunk`` frames of it (a chunk as long as memory allows), else the last start at or before it."""
        k_lo = int(np.searchsorted(self.starts, index - chunk + 1))
        k_hi = int(np.searchsorted(self.starts, index, side="right")) - 1
        k = k_lo if k_lo <= k_hi else k_hi
        if k < 0:  # before the first keyframe (never for a well-formed file): decode from the start
            return 0, 0.0
        return int(self.starts[k]), float(self.seconds[k])


def seek_points(video: Path, info: MediaInfo, fps: Fraction) -> SeekPoints:
    """The keyframes of ``video``'s video stream (read by demuxing its packets, nothing decoded) as frames
    where a backward chunk may begin.

    Formats that seek by presentation time (MP4, MOV) land on keyframe K when asked for K's exact time, and
    an accurate seek hands out K first: the chunk starts at K. The ffmpeg CLI asks others (Matroska, …),
    when a stream has B-frames, for 3/23 s earlier, so a chunk there starts just after that much past K
    (the decode still starts at K; the few frames in between are decoded and dropped, once per keyframe)."""
    assert info.video is not None
    import av  # PyAV demuxes without decoding; a lazy import keeps it out of forward-only dubs

    with av.open(str(video)) as container:
        stream = container.streams[info.video.index]
        origin = Fraction(container.start_time or 0, 1_000_000)  # where ffmpeg's -ss counts from
        by_dts = not container.format.flags & AVFMT_SEEK_TO_PTS
        delayed = any(s.type == "video" and s.codec_context.has_b_frames for s in container.streams)
        times = sorted(
            packet.pts * stream.time_base - origin
            for packet in container.demux(stream)
            if packet.is_keyframe and packet.pts is not None
        )
    keys = np.array([round(t * fps) for t in times if t >= 0], np.int64)
    if by_dts and delayed:
        after = int(np.ceil(DTS_SEEK_EARLY * fps + Fraction(1, 2)))  # frames past K to start at
        nxt = np.r_[keys[1:], np.iinfo(np.int64).max]
        starts = np.where(keys + after < nxt, keys + after, keys)
        seconds = [seek_seconds(int(s), fps) if s != k else -1.0 for s, k in zip(starts, keys, strict=True)]
        # a GOP shorter than that: start at K the ordinary way (ffmpeg re-decodes at most that short GOP)
        seconds = [t if t >= 0 else seek_seconds(int(k), fps) for t, k in zip(seconds, keys, strict=True)]
    else:
        starts = keys
        seconds = [float(t) for t in times if t >= 0]  # the keyframe's own time: lands on it, drops nothing
    starts, first = np.unique(starts, return_index=True)
    return SeekPoints(starts=starts, seconds=np.asarray(seconds, np.float64)[first])


class FootageFrames:
    """Decodes footage frames in any order a schedule asks for, with bounded memory.

    Forward runs stream from one ffmpeg. A backward run decodes a chunk forwards and hands it out in
    reverse; chunks begin at the footage's keyframes (``seek_points``), so each frame is decoded once per
    backward pass (a chunk opened between keyframes would make ffmpeg decode and drop the frames from the
    keyframe before it: up to a whole GOP per chunk). A chunk holds up to ``cache_bytes`` in memory; a
    keyframe-aligned chunk larger than that (a long GOP) is held in a scratch file (numpy memmap in
    ``scratch_dir``, default the system's temporary folder), deleted with the next chunk or on ``close``."""

    def __init__(
        self,
        video: Path,
        fps: Fraction,
        info: MediaInfo,
        *,
        cache_bytes: int = 128 * 2**20,
        scratch_dir: Path | None = None,
    ) -> None:
        assert info.video is not None
        self.video, self.fps, self.info = video, fps, info
        self.frame_shape = (info.video.height, info.video.width, 3)
        self.chunk = max(1, cache_bytes // (3 * info.video.width * info.video.height))
        self.scratch_dir = scratch_dir
        self._stream: Iterator[np.ndarray] | None = None
        self._next = -1  # footage index the stream yields next
        self._seek_points: SeekPoints | None = None
        self._chunk_lo = 0
        self._chunk: np.ndarray = np.zeros((0, *self.frame_shape), np.uint8)
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        self._current: tuple[int, np.ndarray] | None = None
        #: (first frame, seek seconds) of every backward chunk opened, for tests and benchmarks
        self.chunks_opened: list[tuple[int, float]] = []

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()  # type: ignore[attr-defined]
            self._stream = None
        self._drop_chunk()

    def _drop_chunk(self) -> None:
        self._chunk = np.zeros((0, *self.frame_shape), np.uint8)
        if self._scratch is not None:
            self._scratch.cleanup()  # frames handed out from it were copies
            self._scratch = None

    def _open(self, frame: int, seconds: float | None = None) -> None:
        self.close_stream()
        start = seek_seconds(frame, self.fps) if seconds is None else seconds
        self._stream = iter_frames(self.video, start=start, info=self.info)
        self._next = frame

    def close_stream(self) -> None:
        if self._stream is not None:
            self._stream.close()  # type: ignore[attr-defined]
            self._stream = None

    def _read(self) -> np.ndarray:
        assert self._stream is not None
        try:
            frame = next(self._stream)
        except StopIteration:
            raise InputError(f"{self.video.name} ended before frame {self._next}") from None
        self._next += 1
        return frame

    def _decode_chunk(self, index: int) -> None:
        """Decode the backward chunk that ends at ``index`` (from a seek point, forwards)."""
        if self._seek_points is None:
            self._seek_points = seek_points(self.video, self.info, self.fps)
        lo, seconds = self._seek_points.chunk_start(index, self.chunk)
        self._drop_chunk()
        n = index - lo + 1
        self.chunks_opened.append((lo, seconds))
        self._open(lo, seconds)
        if n <= self.chunk:
            chunk = np.empty((n, *self.frame_shape), np.uint8)
            for k in range(n):
                chunk[k] = self._read()
        else:  # a long GOP: on disk, not in memory (written sequentially, then mapped read-only)
            self._scratch = tempfile.TemporaryDirectory(prefix="s2l-chunk-", dir=self.scratch_dir)
            path = Path(self._scratch.name) / "chunk.u8"
            with open(path, "wb") as out:
                for _ in range(n):
                    out.write(self._read())
            chunk = np.memmap(path, dtype=np.uint8, mode="r", shape=(n, *self.frame_shape))
        self.close_stream()
        self._chunk, self._chunk_lo = chunk, lo

    def _in_chunk(self, index: int) -> bool:
        return self._chunk_lo <= index < self._chunk_lo + len(self._chunk)

    def get(self, index: int, upcoming: int | None) -> np.ndarray:
        """Footage frame ``index``; ``upcoming`` is the index asked for next (None at the end), which tells a
        backward run (decode a chunk, hand it out in reverse) from a forward one (stream)."""
        if self._current is not None and self._current[0] == index:
            return self._current[1]
        if self._in_chunk(index) or (upcoming is not None and upcoming < index):
            if not self._in_chunk(index):  # going backwards: decode the chunk ending here
                self._decode_chunk(index)
            frame = self._chunk[index - self._chunk_lo]
            if self._scratch is not None:
                frame = np.array(frame)  # a copy: the scratch file goes with the next chunk
        else:
            if self._stream is None or not self._next <= index < self._next + self.chunk:
                self._open(index)
            while self._next <= index:
                frame = self._read()
        self._current = (index, frame)
        return frame

    def in_order(self, index: np.ndarray) -> Iterator[np.ndarray]:
        """Footage frames ``index`` (N,) one after another, each told which comes next.

        "Next" is the next *other* frame (an output faster than the footage shows frames twice), and a
        step back that the schedule leaves forwards right after (a loop's wrap) counts as a jump, not as a
        backward run: it reopens the stream instead of decoding a whole chunk for one frame."""
        index = np.asarray(index, np.int64)
        following = _next_other(index)
        for k in range(len(index)):
            i, j = int(index[k]), int(following[k])
            up = int(index[j]) if j >= 0 else None
            if up is not None and up < i:
                then = int(following[j])
                if then >= 0 and int(index[then]) > up:  # back, then forwards: a jump
                    up = None
            yield self.get(i, up)


def _next_other(index: np.ndarray) -> np.ndarray:
    """(N,) for each position, the next position whose frame differs from it (-1: none)."""
    out = np.full(len(index), -1, np.int64)
    for k in range(len(index) - 2, -1, -1):
        out[k] = k + 1 if index[k + 1] != index[k] else out[k + 1]
    return out
