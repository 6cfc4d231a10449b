"""``s2l sample``: the built-in sample speaker (synthetic, with known ground truth)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from s2l_cli.options import CodecOpt, Crf, Force, Json
from s2l_cli.report import Reporter
from s2l_model.errors import InputError
from s2l_model.media import parse_fps

app = typer.Typer(
    help="The built-in sample speaker: a synthetic talking head with known mouth motion.",
    no_args_is_help=True,
)

Seconds = Annotated[float, typer.Option("--seconds", help="Length in seconds.")]
Seed = Annotated[int, typer.Option("--seed", help="Random seed (same seed, same clip).")]
FpsText = Annotated[str, typer.Option("--fps", help="Frame rate, e.g. 25, 29.97 or 30000/1001.")]


@app.command("speaker")
def speaker_cmd(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder to write into (created if missing).")
    ] = Path("sample"),
    seconds: Seconds = 24.0,
    fps: FpsText = "25",
    seed: Seed = 0,
    head_motion: Annotated[
        float, typer.Option("--head-motion", help="Head sway amplitude in degrees (0 = still).")
    ] = 0.0,
    codec: CodecOpt = None,
    crf: Crf = None,
    force: Force = False,
    json_out: Json = False,
) -> None:
    """Make a talking-head clip of the public-domain astronaut photo, its speech, and the truth.

    Writes speaker.mp4 (or .mov/.mkv with --codec), speech.wav, truth.csv (per-frame mouth opening and head
    pose) and sample.json into the folder.
    """
    if output.exists() and not output.is_dir():
        raise InputError(f"output is a file, expected a folder: {output}")
    if not output.parent.is_dir():
        raise InputError(f"output folder's parent does not exist: {output.parent}")
    if output.is_dir() and any(output.iterdir()) and not force:
        raise InputError(f"output folder is not empty: {output} (pass --force to overwrite)")
    from s2l_model.sample import SampleConfig, make_sample_speaker  # scipy & co.: only when used

    config = SampleConfig(seconds=seconds, fps=parse_fps(fps), seed=seed, head_motion=head_motion)
    config.validate()
    output.mkdir(exist_ok=True)
    report = Reporter(json_out)
    with report.stage("sample speaker", None) as update:
        out = make_sample_speaker(
            output, config, codec=codec.value if codec else "h264", crf=crf, on_frame=update
        )
    report.result(
        f"wrote {out.video} ({out.n_frames} frames), {out.speech}, {out.truth}",
        video=str(out.video),
        speech=str(out.speech),
        truth=str(out.truth),
        frames=out.n_frames,
    )


@app.command("speech")
def speech_cmd(
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="WAV file to write; the truth goes beside it.", show_default=False
        ),
    ],
    seconds: Seconds = 8.0,
    fps: FpsText = "25",
    seed: Seed = 1,
    force: Force = False,
    json_out: Json = False,
) -> None:
    """Make new synthetic speech with its per-frame mouth-opening truth (<name>.truth.csv)."""
    if output.suffix.lower() != ".wav":
        raise InputError(f"speech output must be a .wav file, got {output.name!r}")
    from s2l_model.sample import make_sample_speech

    _, truth = make_sample_speech(output, seconds=seconds, seed=seed, fps=parse_fps(fps), overwrite=force)
    Reporter(json_out).result(f"wrote {output} and {truth}", speech=str(output), truth=str(truth))
