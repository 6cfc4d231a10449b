"""The built-in sample speaker: a talking-head clip with known ground truth, made offline in seconds.

Outputs, in one folder:
    speaker.mp4 (or .mkv/.mov)  the talking head with its speech (512x512)
    speech.wav                  the speech alone (16 kHz mono)
    truth.csv                   per frame: time, mouth openness (0..1), jaw drop (px), head pose
    sample.json                 how it was made (seed, fps, sizes)
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from s2l_model import __version__
from s2l_model.errors import InputError
from s2l_model.media import Codec, VideoWriter, atomic_output, check_output_path, suffix_for, write_wav
from s2l_model.sample.face import HeadPose2D, TalkingHead, detect_landmarks, sample_face_image
from s2l_model.sample.speech import SyntheticSpeech, synthesize_speech

MIN_SECONDS, MAX_SECONDS = 2.0, 600.0


@dataclass(frozen=True)
class SampleConfig:
    seconds: float = 24.0
    fps: Fraction = Fraction(25)
    seed: int = 0
    #: peak jaw drop as a fraction of the mouth width (an open "a")
    max_opening: float = 0.4
    #: amplitude of a slow in-plane head sway in degrees (0 = a still head)
    head_motion: float = 0.0

    def validate(self) -> None:
        if not MIN_SECONDS <= self.seconds <= MAX_SECONDS:
            raise InputError(
                f"--seconds must be between {MIN_SECONDS:g} and {MAX_SECONDS:g}, got {self.seconds:g}"
            )
        if not 1 <= self.fps <= 120:
            raise InputError(f"--fps must be between 1 and 120, got {float(self.fps):g}")
        if not 0 < self.max_opening <= 1:
            raise InputError(f"max opening must be in (0, 1], got {self.max_opening:g}")
        if not 0 <= self.head_motion <= 15:
            raise InputError(f"--head-motion must be between 0 and 15 degrees, got {self.head_motion:g}")


@dataclass(frozen=True)
class SampleOutputs:
    video: Path
    speech: Path
    truth: Path
    meta: Path
    n_frames: int


def head_pose_at(t: float, amplitude: float) -> HeadPose2D:
    """A smooth, non-repeating-looking sway: incommensurate periods, no jumps."""
    if amplitude == 0:
        return HeadPose2D()
    return HeadPose2D(
        angle_deg=amplitude * math.sin(2 * math.pi * t / 4.7),
        tx=1.5 * amplitude * math.sin(2 * math.pi * t / 6.3 + 1.0),
        ty=amplitude * math.sin(2 * math.pi * t / 5.1 + 2.0),
    )


def write_truth_csv(
    path: Path,
    fps: Fraction,
    openness: np.ndarray,
    opening_px: np.ndarray,
    poses: list[HeadPose2D] | None = None,
) -> None:
    """Per-frame ground truth, atomically."""
    with atomic_output(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            ["frame", "time_s", "openness", "opening_px", "head_angle_deg", "head_tx_px", "head_ty_px"]
        )
        for k, (o, px) in enumerate(zip(openness, opening_px, strict=True)):
            pose = poses[k] if poses else HeadPose2D()
            writer.writerow(
                [
                    k,
                    f"{float(k / fps):.6f}",
                    f"{o:.5f}",
                    f"{px:.4f}",
                    f"{pose.angle_deg:.5f}",
                    f"{pose.tx:.4f}",
                    f"{pose.ty:.4f}",
                ]
            )


def read_truth_csv(path: str | Path) -> dict[str, np.ndarray]:
    """Columns of a truth.csv as float arrays (frame as int)."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise InputError(f"empty truth file: {path}")
    cols = {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}
    cols["frame"] = cols["frame"].astype(np.int64)
    return cols


def make_sample_speech(
    path: str | Path,
    *,
    seconds: float = 8.0,
    seed: int = 1,
    fps: Fraction = Fraction(25),
    overwrite: bool = True,
) -> tuple[SyntheticSpeech, Path]:
    """Write a new synthetic speech signal (WAV) and its per-frame openness truth (``<stem>.truth.csv``).

    Both targets are checked before anything is written, so a refused overwrite leaves both untouched.
    """
    SampleConfig(seconds=seconds, fps=fps, seed=seed).validate()
    wav = check_output_path(path, overwrite=overwrite)
    truth = check_output_path(wav.with_name(wav.stem + ".truth.csv"), overwrite=overwrite)
    synth = synthesize_speech(seconds, seed=seed)
    openness = synth.openness_at_frames(fps)
    write_wav(wav, synth.speech)
    write_truth_csv(truth, fps, openness, np.zeros_like(openness))
    return synth, truth


def make_sample_speaker(
    out_dir: str | Path,
    config: SampleConfig = SampleConfig(),
    *,
    codec: Codec = "h264",
    crf: int | None = None,
    on_frame: Callable[[int, int], None] | None = None,
) -> SampleOutputs:
    """Generate the sample speaker into ``out_dir`` (which must exist)."""
    config.validate()
    folder = Path(out_dir)
    if not folder.is_dir():
        raise InputError(f"output folder does not exist: {folder}")
    synth = synthesize_speech(config.seconds, seed=config.seed)
    n_frames = round(synth.speech.duration * config.fps)
    openness = synth.openness_at_frames(config.fps, n_frames)

    image = sample_face_image()
    head = TalkingHead(image, detect_landmarks(image))
    max_px = config.max_opening * head.mouth_width
    opening_px = openness * max_px
    poses = [head_pose_at(k / config.fps, config.head_motion) for k in range(n_frames)]

    outputs = SampleOutputs(
        video=folder / f"speaker{suffix_for(codec)}",
        speech=folder / "speech.wav",
        truth=folder / "truth.csv",
        meta=folder / "sample.json",
        n_frames=n_frames,
    )
    height, width = image.shape[:2]
    with VideoWriter(
        outputs.video,
        fps=config.fps,
        size=(width, height),
        codec=codec,
        crf=crf,
        audio=synth.speech,
        n_frames=n_frames,
    ) as writer:
        for k in range(n_frames):
            writer.write(head.render(float(opening_px[k]), poses[k]))
            if on_frame is not None:
                on_frame(k + 1, n_frames)
    write_wav(outputs.speech, synth.speech)
    write_truth_csv(outputs.truth, config.fps, openness, opening_px, poses)
    meta = {
        "generator": f"s2l {__version__} sample speaker",
        "face": "scikit-image data.astronaut() (NASA, public domain)",
        "speech": "synthetic formant syllables (s2l_model.sample.speech)",
        "seconds": config.seconds,
        "fps": f"{config.fps.numerator}/{config.fps.denominator}",
        "n_frames": n_frames,
        "size": [width, height],
        "seed": config.seed,
        "mouth_width_px": round(head.mouth_width, 3),
        "max_opening_px": round(max_px, 3),
        "head_motion_deg": config.head_motion,
        "mouth_center_px": [round(float(v), 3) for v in head.center],
        "codec": codec,
    }
    with atomic_output(outputs.meta) as tmp:
        tmp.write_text(json.dumps(meta, indent=2) + "\n")
    return outputs
