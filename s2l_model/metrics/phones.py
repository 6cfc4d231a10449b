"""English phone recognition with pocketsphinx's shipped en-us model, reduced to what lips must do.

pocketsphinx (CMU Sphinx, BSD) decodes phones with its phone language model ("allphone" mode) in 10 ms
frames, offline. Only two classes matter for lip sync and both are visible: the bilabials p, b, m close
the lips completely, and the open vowels AA, AE, AH, AO, AW, AY open them wide. Everything else (and
silence) is left unlabelled, because its lip shape is ambiguous from the phone alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from s2l_model.errors import ProcessingError
from s2l_model.media.audio import SPEECH_SAMPLE_RATE, Speech

CLOSED_PHONES = frozenset({"P", "B", "M"})
OPEN_PHONES = frozenset({"AA", "AE", "AH", "AO", "AW", "AY"})
PHONE_FRAME_S = 0.01  # pocketsphinx's frame rate (100 frames per second)

#: Lip targets per video frame.
OPEN, CLOSED, UNLABELLED = 1, -1, 0


@dataclass(frozen=True)
class Phone:
    label: str
    start_s: float
    end_s: float


def recognise_phones(speech: Speech) -> list[Phone]:
    """Phones of ``speech`` (16 kHz) in time order, silences included (label ``SIL``)."""
    if speech.sample_rate != SPEECH_SAMPLE_RATE:
        raise ValueError(f"phone recognition needs {SPEECH_SAMPLE_RATE} Hz speech, got {speech.sample_rate}")
    try:
        from pocketsphinx import Config, Decoder, get_model_path
    except ImportError as error:  # a broken install, not a user mistake
        raise ProcessingError(f"pocketsphinx is not usable: {error}") from None
    model = get_model_path()
    config = Config(
        hmm=os.path.join(model, "en-us", "en-us"),
        allphone=os.path.join(model, "en-us", "en-us-phone.lm.bin"),
        lm=None,
        lw=2.0,
        loglevel="FATAL",
    )
    decoder = Decoder(config)
    pcm = (np.clip(speech.samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    return [
        Phone(seg.word, seg.start_frame * PHONE_FRAME_S, (seg.end_frame + 1) * PHONE_FRAME_S)
        for seg in decoder.seg()
    ]


def lip_targets(phones: list[Phone], fps: float, n_frames: int) -> np.ndarray:
    """(n_frames,) OPEN / CLOSED / UNLABELLED for each video frame, from the phone at the frame's centre."""
    targets = np.full(n_frames, UNLABELLED, np.int8)
    centres = (np.arange(n_frames) + 0.5) / fps
    for phone in phones:
        label = OPEN if phone.label in OPEN_PHONES else CLOSED if phone.label in CLOSED_PHONES else None
        if label is None:
            continue
        targets[(centres >= phone.start_s) & (centres < phone.end_s)] = label
    return targets
