"""Speaker-independent phoneme posteriors at 50 Hz: the role DeepSpeech plays in the paper.

The recogniser is hama 1.7.0's CTC phoneme model (Apache-2.0; its 4.7 MB weights and a native CPU engine
ship inside the wheel, numpy only): 16 kHz waveform in, log-probabilities over 191 labels (IPA phones,
``<wb>`` word boundary, ``<blank>``) out, one step per 320 samples (20 ms).

Facts measured here (docs/DESIGN.md "Speech features"):

- **Step grid.** A run over N samples gives N // 320 + 1 steps, the count of a centre-padded STFT (hop 160)
  subsampled by 2, so step k is centred on sample 320·k (it covers [320k − 160, 320k + 160)). The count
  would be ⌈N / 320⌉ for steps covering [320k, 320k + 320). A constant half-step (10 ms) error here would
  move every feature by the same amount, and the predictor learns constant lags anyway.
- **At most 30 s per run.** The engine never returns more than 1500 steps: a longer input is cut
  silently. So long speech must be streamed in chunks, and a "whole-file" reference exists only up to 30 s.
- **Global context.** A step's posterior depends on the whole run's input (attention): the same audio in
  a run of another length or start changes some probabilities, mostly where two labels are close.
  ``PosteriorStream`` therefore cuts chunks with context on both sides, and the tests bound the difference.
- **Not gain-invariant.** ×4 gain flips the argmax of ~3 % of steps, hence the level normalisation in
  ``features/frames.py`` before the recogniser.

hama is used only through ``ASRModel().session.run`` with the tensor names the model object resolves
(``_waveform_input_name`` etc.): the raw posteriors, without hama's decoding, resampling or clipping.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from s2l_model.features.speech import SampleReader

STEP_SAMPLES = 320  # 20 ms at 16 kHz
STEP_RATE = 50  # steps per second
N_LABELS = 191
#: The engine's limit: it returns at most this many steps per run (30 s of audio).
MAX_RUN_STEPS = 1500


class Recognizer(Protocol):
    """What ``PosteriorStream`` and ``FrameFeatures`` need (a stub with this interface can stand in)."""

    def posteriors(self, samples: np.ndarray) -> np.ndarray: ...


class PhonemeRecognizer:
    """hama's phoneme model, loaded once per process on first use; one run at a time (a lock)."""

    _model: Any = None
    _load_lock = threading.Lock()
    _run_lock = threading.Lock()

    @classmethod
    def _loaded(cls) -> Any:
        with cls._load_lock:
            if cls._model is None:
                from hama.asr import ASRModel

                cls._model = ASRModel()
            return cls._model

    @property
    def labels(self) -> Sequence[str]:
        """The 191 label names; the last two are ``<wb>`` and ``<blank>``."""
        return self._loaded().decoder_tokens

    def posteriors(self, samples: np.ndarray) -> np.ndarray:
        """(len(samples) // 320 + 1, 191) float32 probabilities of 16 kHz ``samples``; step k is centred on
        sample 320·k. At most 30 s (``MAX_RUN_STEPS``) per call: longer input raises (the engine would
        cut it silently); stream it with ``PosteriorStream``."""
        samples = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
        steps = len(samples) // STEP_SAMPLES + 1
        if steps > MAX_RUN_STEPS:
            raise ValueError(f"{len(samples)} samples is over hama's 30 s per run; use PosteriorStream")
        model = self._loaded()
        with self._run_lock:
            log_probs, lengths = model.session.run(
                [model._log_probs_output_name, model._out_lengths_output_name],
                {
                    model._waveform_input_name: samples[None, :],
                    model._waveform_lengths_input_name: np.array([len(samples)], np.int64),
                },
            )
        valid = int(np.asarray(lengths).reshape(-1)[0])
        probs = np.exp(log_probs[0, :valid], dtype=np.float32)
        if len(probs) != steps:  # not seen; guards the step grid the features rely on
            raise RuntimeError(f"hama returned {len(probs)} steps for {len(samples)} samples, not {steps}")
        return probs


def ctc_collapse(probs: np.ndarray, labels: Sequence[str]) -> list[str]:
    """Greedy CTC decoding: the argmax label per step, repeats merged, ``<blank>`` dropped."""
    blank = len(labels) - 1
    best = probs.argmax(axis=1)
    keep = np.ones(len(best), bool)
    keep[1:] = best[1:] != best[:-1]
    return [labels[i] for i in best[keep] if i != blank]


class PosteriorStream:
    """Posteriors of any step range of a long speech, computed ``chunk_s`` at a time.

    Chunk c holds steps [c·C, (c+1)·C) (C = ``chunk_s`` × 50) and is computed from the audio of steps
    [c·C − X, (c+1)·C + X) (X = ``context_s`` × 50), cut at the signal's ends, so each step sees at least
    ``context_s`` of the audio around it, as in a whole-file run. Steps before 0 or past the signal's last
    step are the posteriors of silence (computed once, on zeros).

    Memory does not grow with the speech's length: besides the chunk last asked for and the one before it
    (a caller walking forward needs the current one and, at a border, the previous one), at most ``ahead``
    chunks are kept. With ``ahead`` > 0, a background thread computes the chunks after the last one asked
    for while the caller works (a dub renders while the recogniser, which releases the GIL, runs on the
    other core): the caller then rarely waits for the recogniser. Results are the same either way (a chunk
    is a function of its audio alone). ``close()`` stops the thread; it also ends by itself once the last
    chunk is done, or once the stream is no longer referenced.
    """

    def __init__(
        self,
        read: SampleReader,
        n_samples: int,
        chunk_s: float = 20.0,
        context_s: float = 1.0,
        recognizer: Recognizer | None = None,
        ahead: int = 0,
    ) -> None:
        self.chunk_steps = round(chunk_s * STEP_RATE)
        self.context_steps = round(context_s * STEP_RATE)
        if self.chunk_steps < 1 or self.context_steps < 0 or ahead < 0:
            raise ValueError("chunk_s must be > 0, and context_s and ahead >= 0")
        if self.chunk_steps + 2 * self.context_steps >= MAX_RUN_STEPS:
            raise ValueError("chunk_s + 2 × context_s must stay under hama's 30 s per run")
        self.read = read
        self.n_samples = n_samples
        self.n_steps = n_samples // STEP_SAMPLES + 1 if n_samples > 0 else 0
        self.n_chunks = -(-self.n_steps // self.chunk_steps)
        self.recognizer = recognizer or PhonemeRecognizer()
        self.ahead = ahead
        self._chunks: dict[int, np.ndarray] = {}
        self._busy: set[int] = set()  # chunks being computed (by the caller or the thread)
        self._recent: list[int] = []  # the two chunks last asked for, the latest last
        self._changed = threading.Condition()
        self._closed = False
        self._silence: np.ndarray | None = None
        self.runs = 0  # recogniser calls so far (tests: caching works)
        if ahead and self.n_chunks:
            threading.Thread(
                target=_compute_ahead, args=(weakref.ref(self),), name="s2l-phonemes", daemon=True
            ).start()

    def close(self) -> None:
        """Stop computing ahead (the stream still answers, computing what it is asked for)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def silence(self) -> np.ndarray:
        """(191,) the posterior of a silent step: the middle step of a run over 1 s of zeros."""
        if self._silence is None:
            probs = self.recognizer.posteriors(np.zeros(STEP_RATE * STEP_SAMPLES, np.float32))
            self._silence = probs[len(probs) // 2].copy()
        return self._silence

    def _compute(self, c: int) -> np.ndarray:
        """Chunk ``c`` from the recogniser (no locks held)."""
        lo = max(0, c * self.chunk_steps - self.context_steps)
        hi = min(self.n_steps, (c + 1) * self.chunk_steps + self.context_steps)
        # Steps lo … hi-1 are centred on samples 320·lo … 320·(hi-1); the run starts at 320·lo so its grid
        # is the global one, and stops at the signal's end (a whole-file run sees no trailing zeros).
        stop = self.n_samples if hi == self.n_steps else (hi - 1) * STEP_SAMPLES + STEP_SAMPLES // 2
        probs = self.recognizer.posteriors(self.read(lo * STEP_SAMPLES, stop))
        first = c * self.chunk_steps - lo
        return np.ascontiguousarray(probs[first : first + self.chunk_steps], dtype=np.float32)

    def _ahead(self) -> range:
        """The chunks the thread computes: the ``ahead`` after the one last asked for."""
        first = self._recent[-1] + 1 if self._recent else 0
        return range(first, min(self.n_chunks, first + self.ahead))

    def _keep(self, c: int, chunk: np.ndarray) -> None:
        """Store a computed chunk and drop those nobody will ask for soon (``_changed`` held)."""
        self._busy.discard(c)
        self._chunks[c] = chunk
        self.runs += 1
        kept = {*self._recent, *self._ahead()}
        for old in [k for k in self._chunks if k not in kept and k != c]:
            del self._chunks[old]
        self._changed.notify_all()

    def _chunk(self, c: int) -> np.ndarray:
        with self._changed:
            if not self._recent or self._recent[-1] != c:
                self._recent = [*self._recent[-1:], c]
                self._changed.notify_all()  # the thread may compute further ahead now
            while c in self._busy:  # being computed ahead: wait for it rather than run it twice
                self._changed.wait()
            if c in self._chunks:
                return self._chunks[c]
            self._busy.add(c)
        try:
            chunk = self._compute(c)
        except BaseException:
            with self._changed:
                self._busy.discard(c)
                self._changed.notify_all()
            raise
        with self._changed:
            self._keep(c, chunk)
        return chunk

    def _claim_ahead(self) -> int | None:
        """(the thread, ``_changed`` held) The next chunk to compute ahead, claimed; -1: none yet (after
        waiting up to a second for the caller to move on); None: the thread's work is over."""
        window = self._ahead()
        todo = [k for k in window if k not in self._chunks and k not in self._busy]
        if self._closed or (not todo and window.stop == self.n_chunks and not self._busy):
            return None
        if not todo:
            self._changed.wait(timeout=1.0)
            return -1
        self._busy.add(todo[0])
        return todo[0]

    def steps(self, start: int, stop: int) -> np.ndarray:
        """(stop − start, 191) float32 posteriors of steps start … stop − 1 (any integers)."""
        out = np.empty((max(0, stop - start), N_LABELS), np.float32)
        if not len(out):
            return out
        inside_lo, inside_hi = max(start, 0), min(stop, self.n_steps)
        if inside_lo > start or inside_hi < stop:
            out[:] = self.silence()
        k = inside_lo
        while k < inside_hi:
            c = k // self.chunk_steps
            chunk = self._chunk(c)
            base = c * self.chunk_steps
            take = min(inside_hi, base + len(chunk)) - k
            out[k - start : k - start + take] = chunk[k - base : k - base + take]
            k += take
        return out


def _compute_ahead(stream_ref: weakref.ref[PosteriorStream]) -> None:
    """The background thread of a ``PosteriorStream`` with ``ahead`` > 0. It holds the stream only while
    it works on it, so a stream dropped without ``close()`` still lets its thread end."""
    while True:
        stream = stream_ref()
        if stream is None:
            return
        with stream._changed:
            c = stream._claim_ahead()
        if c is None:
            return
        if c >= 0:
            try:
                chunk = stream._compute(c)
            except BaseException:  # the caller computes the chunk itself then, and meets the error
                with stream._changed:
                    stream._busy.discard(c)
                    stream._closed = True
                    stream._changed.notify_all()
                return
            with stream._changed:
                stream._keep(c, chunk)
        del stream


#: The recogniser's bilabial labels: sounds made with the lips closed (or nearly closed, ɸ and β), in any
#: language.
BILABIAL_PHONES = frozenset({"p", "pʰ", "p͈", "b", "m", "ɸ", "β"})


def bilabial_labels(labels: Sequence[str]) -> np.ndarray:
    """(len(labels),) bool: which of the recogniser's labels are bilabials."""
    return np.array([label in BILABIAL_PHONES for label in labels])
