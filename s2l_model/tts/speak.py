"""Subtitle lines spoken by a piper voice into one track, each line fitted into its event.

The track is written in time order, a block at a time, so a feature-length subtitle file never holds the
whole track in memory. Each line's speech starts at its event's start and must end before the event ends
(or before the next line starts: one voice says one line at a time). Fitting uses piper's own speaking rate
(``length_scale``), which keeps pitch and sounds natural, within ``[min_rate, max_rate]``; a line still too
long at the fastest rate is cut with a short fade and reported in ``notes``.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from s2l_model.errors import InputError
from s2l_model.media.atomic import atomic_output, check_output_path
from s2l_model.progress import CountFn
from s2l_model.tts.voices import resolve_voice

# Speech for one line: (text, rate) -> mono float32 at the output rate, leading/trailing silence removed.
# rate 1.0 is the voice's natural pace, 1.25 is 25 % faster.
Synthesizer = Callable[[str, float], np.ndarray]

DEFAULT_SAMPLE_RATE = 16_000  # what s2l's speech features read (media.SPEECH_SAMPLE_RATE)
FASTEST_RATE = 1.5  # faster than this, piper's speech slurs; beyond it lines are cut instead
SLOWEST_RATE = 0.65  # the lowest min_rate accepted: slower sounds drawn out
MIN_WINDOW = 0.1  # seconds: a line with less time than this is not spoken at all
FIT_MARGIN = 0.97  # aim a little under the window: piper's durations vary from run to run (noise)
FILL_TARGET = 0.95  # with min_rate < 1, short lines are slowed until they fill this share of their window
MAX_TRIES = 4  # syntheses per line: natural pace, then up to three rates closing in on the window
SCALING_SHARE = 0.7  # share of a line's length that scales with length_scale (measured on en_US-joe-medium)
NOTE_RATE = 1.2  # lines sped up at least this much get a note (the translation may want shortening)
SENTENCE_PAUSE = 0.2  # seconds between sentences of one line at the natural pace (scaled with the rate)
PEAK = 0.7  # piper normalises each sentence to full scale; -3 dBFS leaves room for resampling overshoot
EDGE_FADE = 0.005  # seconds of fade where silence was trimmed, so speech never starts with a click
CUT_FADE = 0.03  # seconds of fade-out where a too-long line is cut
_BLOCK = 1 << 16  # samples of silence written at a time


@dataclass(frozen=True)
class SpokenLine:
    """One subtitle event to speak: [start, end) in seconds of the track, and its text."""

    start: float
    end: float
    text: str
    number: int = 0  # the event's number in notes (1-based, e.g. SubtitleEvent.number); 0: position + 1


@dataclass(frozen=True)
class LineResult:
    number: int
    start: float  # seconds: where its speech begins (the event's start)
    window: float  # seconds it had: to its end, the next line's start or the track's end
    rate: float  # speaking rate used: 1.0 natural, 1.3 is 30 % faster, 0.8 slower
    spoken: float  # seconds of speech placed in the track
    fitted: bool  # False: too long even at the fastest rate, so its end was cut


@dataclass(frozen=True)
class TtsResult:
    output: Path
    duration: float  # seconds, exactly the requested duration (to the sample)
    sample_rate: int
    voice: Path  # the .onnx model used
    lines: list[LineResult]  # the lines that were spoken, in time order
    notes: list[str]  # for the user: lines cut, sped up, shortened by an overlap or skipped


@dataclass(frozen=True)
class LineFit:
    audio: np.ndarray  # float32 at the output rate, at most the window long
    rate: float
    fitted: bool
    needed: float  # seconds the shortest attempt needed (more than the window when not fitted)


@dataclass
class PlannedLine:
    """A line to speak and the window it must fit into (``plan_slots``; ``stop`` shrinks on overlaps)."""

    number: int
    text: str
    start: int  # samples
    stop: int  # samples: the end of the window the line must fit into


def speak_lines(
    lines: Sequence[SpokenLine],
    voice: str,
    duration: float,
    output: Path,
    *,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    on_progress: CountFn | None = None,
    min_rate: float = 1.0,
    max_rate: float = FASTEST_RATE,
    threads: int | None = None,
    seed: int = 0,
) -> TtsResult:
    """Speak ``lines`` with ``voice`` into a mono track of exactly ``duration`` seconds at ``output``.

    Silence outside the lines; each line starts at its event's start and ends within its window. Lines
    with empty text are skipped. ``min_rate`` < 1 lets short lines slow down (to at most ``SLOWEST_RATE``)
    towards filling their event; the default keeps the voice's natural pace. The voice is loaded once;
    ``seed`` makes the output reproducible (piper samples noise). ``on_progress(done, total)`` is called
    after each spoken line. The file (WAV or FLAC, 16-bit) is written atomically.
    """
    if not (math.isfinite(duration) and duration > 0):
        raise InputError(f"the speech track needs a positive duration, got {duration}")
    if not 8000 <= sample_rate <= 192_000:
        raise InputError(f"sample rate out of range (8000-192000 Hz): {sample_rate}")
    if not SLOWEST_RATE <= min_rate <= 1.0 <= max_rate <= 2.0:
        raise InputError(
            f"speaking rates must satisfy {SLOWEST_RATE} <= min_rate <= 1 <= max_rate <= 2, "
            f"got {min_rate} and {max_rate}"
        )
    model = resolve_voice(voice)
    out = check_output_path(output)  # before synthesis: a bad output path should not cost minutes
    if out.suffix.lower() not in (".wav", ".flac"):
        raise InputError(f"the speech track must be a .wav or .flac file: {out.name}")

    total = round(duration * sample_rate)
    slots, notes = plan_slots(lines, total, sample_rate)
    synth = load_piper_synthesizer(model, sample_rate, threads=threads, seed=seed) if slots else None
    results: list[LineResult] = []
    with atomic_output(out) as tmp, sf.SoundFile(tmp, "w", sample_rate, 1, subtype="PCM_16") as track:
        cursor = 0
        for k, slot in enumerate(slots):
            assert synth is not None
            window = slot.stop - slot.start
            fit = fit_line(slot.text, window, synth, sample_rate, min_rate=min_rate, max_rate=max_rate)
            if fit.audio.size == 0:
                notes.append(f"event {slot.number}: nothing in its text can be spoken: skipped")
            else:
                _write_silence(track, slot.start - cursor)
                track.write(np.clip(fit.audio, -1.0, 1.0))
                cursor = slot.start + fit.audio.size
                results.append(
                    LineResult(
                        number=slot.number,
                        start=slot.start / sample_rate,
                        window=window / sample_rate,
                        rate=round(fit.rate, 3),
                        spoken=fit.audio.size / sample_rate,
                        fitted=fit.fitted,
                    )
                )
                notes.extend(_fit_notes(slot.number, fit, window / sample_rate, max_rate))
            if on_progress is not None:
                on_progress(k + 1, len(slots))
        _write_silence(track, total - cursor)
    return TtsResult(
        output=out,
        duration=total / sample_rate,
        sample_rate=sample_rate,
        voice=model,
        lines=results,
        notes=notes,
    )


def speak_parts(
    parts: Sequence[tuple[str, Sequence[SpokenLine]]],
    duration: float,
    output: Path,
    *,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    on_progress: CountFn | None = None,
    threads: int | None = None,
) -> list[TtsResult]:
    """Several speakers' lines, each ``(voice, lines)``, into one track of ``duration`` seconds at ``output``.

    Each part is spoken on its own (``speak_lines``: one voice says one line at a time) and the parts are
    mixed, so two actors may talk over each other. Returns each part's result (their ``output`` is a
    scratch file, gone on return)."""
    if len(parts) == 1:
        voice, lines = parts[0]
        return [speak_lines(lines, voice, duration, output, sample_rate=sample_rate,
                            on_progress=on_progress, threads=threads)]  # fmt: skip
    out = check_output_path(output)
    total_lines = sum(len(lines) for _, lines in parts)
    done_before = 0

    def progress(done: int, _total: int) -> None:
        if on_progress is not None:
            on_progress(done_before + done, total_lines)

    results: list[TtsResult] = []
    with tempfile.TemporaryDirectory(prefix="s2l-tts-") as tmp:
        for k, (voice, lines) in enumerate(parts):
            part_out = Path(tmp) / f"part{k}.wav"
            results.append(speak_lines(lines, voice, duration, part_out, sample_rate=sample_rate,
                                       on_progress=progress, threads=threads))  # fmt: skip
            done_before += len(lines)
        readers = [sf.SoundFile(r.output) for r in results]
        try:
            with (
                atomic_output(out) as mixed,
                sf.SoundFile(mixed, "w", sample_rate, 1, subtype="PCM_16") as track,
            ):
                while True:
                    blocks = [r.read(_BLOCK, dtype="float32") for r in readers]
                    if not blocks[0].size:
                        break
                    track.write(np.clip(np.sum(blocks, axis=0), -1.0, 1.0))
        finally:
            for r in readers:
                r.close()
    return results


def plan_slots(
    lines: Sequence[SpokenLine], total: int, sample_rate: int
) -> tuple[list[PlannedLine], list[str]]:
    """The lines to speak as non-overlapping sample windows in time order, and notes on what was changed.

    One voice says one line at a time: where a line overlaps the next, its window ends where the next
    begins; of lines starting together the first in the input is spoken. Windows never pass the track's end.
    """
    notes: list[str] = []
    candidates: list[PlannedLine] = []
    for i, line in enumerate(lines):
        number = line.number or i + 1
        text = " ".join(line.text.split())  # subtitle line breaks and runs of spaces are one space
        if not text:
            continue  # an empty event is silence on purpose: no note
        if not (math.isfinite(line.start) and math.isfinite(line.end)) or line.end <= line.start:
            notes.append(
                f"event {number}: ends ({line.end:.3f} s) before it starts ({line.start:.3f} s): skipped"
            )
            continue
        start = max(0, round(line.start * sample_rate))
        if start >= total:
            notes.append(
                f"event {number}: starts at {line.start:.3f} s, after the track's end "
                f"({total / sample_rate:.3f} s): skipped"
            )
            continue
        stop = round(line.end * sample_rate)
        if stop > total:
            notes.append(f"event {number}: ends after the track's end: fitted into the time left")
            stop = total
        candidates.append(PlannedLine(number=number, text=text, start=start, stop=stop))

    candidates.sort(key=lambda s: s.start)  # stable: at equal starts the input order stays
    slots: list[PlannedLine] = []
    min_samples = round(MIN_WINDOW * sample_rate)
    for slot in candidates:
        if slots and slot.start - slots[-1].start < min_samples:
            notes.append(f"event {slot.number}: starts with event {slots[-1].number}: skipped (one voice)")
            continue
        if slots and slot.start < slots[-1].stop:
            notes.append(f"event {slots[-1].number}: overlaps event {slot.number}: fitted before it starts")
            slots[-1].stop = slot.start
        slots.append(slot)
    kept: list[PlannedLine] = []
    for slot in slots:
        if slot.stop - slot.start < min_samples:
            notes.append(f"event {slot.number}: less than {MIN_WINDOW:g} s to speak in: skipped")
        else:
            kept.append(slot)
    return kept, notes


def fit_line(
    text: str,
    window: int,
    synth: Synthesizer,
    sample_rate: int,
    *,
    min_rate: float = 1.0,
    max_rate: float = FASTEST_RATE,
) -> LineFit:
    """Speech for ``text`` no longer than ``window`` samples, at the rate closest to natural that fits.

    Speech length is not proportional to piper's ``length_scale`` (= 1 / rate): measured on this voice,
    about 70 % of it scales and the rest does not (piper rounds every phoneme and the gaps between them up
    to whole frames), and each run varies by a few per cent (sampled noise). So rates are predicted from a
    line through the last measurements, with that 70 % as the prior slope, and the last attempt is always
    at ``max_rate``. If even that is too long, the shortest attempt is cut with a fade.
    """
    natural = synth(text, 1.0)
    if natural.size == 0:
        return LineFit(audio=natural, rate=1.0, fitted=True, needed=0.0)
    tries: list[tuple[float, int]] = [(1.0, natural.size)]
    if natural.size <= window:
        if min_rate >= 1.0 or natural.size >= FILL_TARGET * window:
            return LineFit(audio=natural, rate=1.0, fitted=True, needed=natural.size / sample_rate)
        slow_rate = max(min_rate, min(1.0, predict_rate(FILL_TARGET * window, tries)))
        slow = synth(text, slow_rate)
        if 0 < slow.size <= window:
            return LineFit(audio=slow, rate=slow_rate, fitted=True, needed=slow.size / sample_rate)
        return LineFit(audio=natural, rate=1.0, fitted=True, needed=natural.size / sample_rate)

    target = FIT_MARGIN * window
    attempts: list[tuple[float, np.ndarray]] = [(1.0, natural)]
    rate = 1.0
    for attempt in range(1, MAX_TRIES):
        if attempt == MAX_TRIES - 1:
            rate = max_rate  # the last attempt is at the fastest rate: cutting words is worse than speed
        else:
            # At least 3 % faster than the last miss: an attempt at nearly the same rate would be wasted.
            rate = min(max_rate, max(predict_rate(target, tries), rate * 1.03))
        audio = synth(text, rate)
        attempts.append((rate, audio))
        tries.append((rate, audio.size))
        if audio.size <= window:
            return LineFit(audio=audio, rate=rate, fitted=True, needed=audio.size / sample_rate)
        if rate >= max_rate:
            break
    best_rate, best = min(attempts, key=lambda t: t[1].size)
    return LineFit(
        audio=cut_with_fade(best, window, sample_rate),
        rate=best_rate,
        fitted=False,
        needed=best.size / sample_rate,
    )


def predict_rate(target: float, tries: Sequence[tuple[float, int]]) -> float:
    """The rate at which speech should be ``target`` samples long, from measured (rate, samples) pairs.

    ``tries[0]`` is the natural pace. Length is modelled as linear in ``x = 1 / rate`` (piper's
    length_scale) through the last measurement. The slope comes from the last two measurements where they
    are far enough apart and plausible; otherwise (one measurement, or noise larger than the step) it is
    the prior: ``SCALING_SHARE`` of the natural length per unit of x.
    """
    natural = tries[0][1]
    prior = SCALING_SHARE * natural
    slope = prior
    r1, n1 = tries[-1]
    x1 = 1.0 / r1
    if len(tries) >= 2:
        r0, n0 = tries[-2]
        x0 = 1.0 / r0
        if abs(x1 - x0) >= 0.05:
            measured = (n1 - n0) / (x1 - x0)
            if 0.4 * prior <= measured <= 1.6 * prior:
                slope = measured
    x = x1 + (target - n1) / slope
    return 1.0 / x if x > 0 else math.inf


def cut_with_fade(audio: np.ndarray, length: int, sample_rate: int) -> np.ndarray:
    """The first ``length`` samples of ``audio``, fading out over its last ``CUT_FADE`` seconds."""
    if audio.size <= length:
        return audio
    out = audio[:length].copy()
    n = min(length, round(CUT_FADE * sample_rate))
    if n > 0:
        out[-n:] *= np.linspace(1.0, 0.0, n, dtype=np.float32)
    return out


def trim_silence(audio: np.ndarray, sample_rate: int, *, threshold_db: float = -35.0) -> np.ndarray:
    """``audio`` without its leading and trailing silence (frames ``threshold_db`` under the loudest).

    piper pads each sentence with ~0.1-0.3 s of near-silence; removed, the speech starts on the event's
    start (where the lips start moving) and fitting measures speech rather than padding. A 20 ms margin
    and a short fade keep the first and last sounds whole and click-free.
    """
    frame = max(1, round(0.01 * sample_rate))
    n_frames = audio.size // frame
    if n_frames == 0:
        return audio[:0].astype(np.float32)
    rms = np.sqrt(np.mean(audio[: n_frames * frame].reshape(n_frames, frame).astype(np.float64) ** 2, axis=1))
    loud = np.flatnonzero(rms > max(rms.max() * 10 ** (threshold_db / 20), 1e-4))
    if loud.size == 0:
        return audio[:0].astype(np.float32)
    margin = round(0.02 * sample_rate)
    first = max(0, loud[0] * frame - margin)
    last = min(audio.size, (loud[-1] + 1) * frame + margin)
    out = audio[first:last].astype(np.float32, copy=True)
    n = min(out.size // 2, round(EDGE_FADE * sample_rate))
    if n > 0:
        ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
        out[:n] *= ramp
        out[-n:] *= ramp[::-1]
    return out


def load_piper_synthesizer(
    model: Path, sample_rate: int, *, threads: int | None = None, seed: int = 0
) -> Synthesizer:
    """Load a piper voice once and return a ``Synthesizer`` producing speech at ``sample_rate``.

    piper samples noise with ONNX ``RandomNormalLike`` nodes that have no seed of their own; onnxruntime
    gives them one from its global seed when the session is created, so seeding first makes a whole call
    reproducible (same lines, same voice -> same track, which ``--resume`` fingerprints rely on).
    """
    import json

    import onnxruntime
    import soxr
    from piper import PiperConfig, PiperVoice, SynthesisConfig

    try:
        config = PiperConfig.from_dict(json.loads(model.with_name(model.name + ".json").read_text("utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"cannot read the config of voice {model.name}: {exc.__class__.__name__}") from None
    options = onnxruntime.SessionOptions()
    if threads is not None:  # a batch worker pool wants one thread per worker, not every core per worker
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    onnxruntime.set_seed(seed)
    try:
        session = onnxruntime.InferenceSession(
            str(model), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own classes for unreadable or invalid models
        raise InputError(f"cannot load voice {model.name}: {str(exc).splitlines()[0][:200]}") from None
    voice = PiperVoice(session=session, config=config)
    voice_rate = config.sample_rate
    base_scale = config.length_scale  # the voice's own natural pace (1.0 for most voices)

    def synthesize(text: str, rate: float) -> np.ndarray:
        settings = SynthesisConfig(length_scale=base_scale / rate)
        pause = np.zeros(round(SENTENCE_PAUSE * voice_rate / rate), dtype=np.float32)
        pieces: list[np.ndarray] = []
        for chunk in voice.synthesize(text, settings):  # one chunk per sentence
            sentence = trim_silence(chunk.audio_float_array, voice_rate)
            if sentence.size:
                pieces.extend([pause, sentence] if pieces else [sentence])
        if not pieces:
            return np.zeros(0, dtype=np.float32)
        audio = np.concatenate(pieces)
        if voice_rate != sample_rate:
            audio = soxr.resample(audio, voice_rate, sample_rate, quality="HQ")
        return (audio * PEAK).astype(np.float32)

    return synthesize


def _fit_notes(number: int, fit: LineFit, window: float, max_rate: float) -> list[str]:
    if not fit.fitted:
        return [
            f"event {number}: its text needs {fit.needed:.1f} s even at {max_rate:g}x speed, its event has "
            f"{window:.1f} s: the last {fit.needed - window:.1f} s were cut"
        ]
    if fit.rate >= NOTE_RATE:
        return [f"event {number}: spoken {fit.rate:.2f}x faster to fit its {window:.1f} s"]
    return []


def _write_silence(track: sf.SoundFile, n: int) -> None:
    zeros = np.zeros(min(max(n, 0), _BLOCK), dtype=np.float32)
    while n > 0:
        step = min(n, _BLOCK)
        track.write(zeros[:step])
        n -= step
