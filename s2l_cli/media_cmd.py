"""``s2l media``: probe and re-encode media files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from s2l_cli.options import CodecOpt, Crf, Force, Fps, Json
from s2l_cli.report import Reporter, emit, stdout
from s2l_model.media import check_output_path, codec_for_path, parse_fps, probe, reencode

app = typer.Typer(
    help="Probe and re-encode media files (frame-exact, audio kept in sync).", no_args_is_help=True
)


@app.command("probe")
def probe_cmd(
    file: Annotated[Path, typer.Argument(help="A video or audio file.", show_default=False)],
    json_out: Json = False,
) -> None:
    """Show streams, exact frame rate, frame count, size, rotation and audio tracks."""
    info = probe(file)
    if json_out:
        emit("result", **info.to_dict())
        return
    stdout.print(f"[bold]{info.path}[/] ({info.format_name}, {info.duration:.3f} s)")
    if info.video:
        v = info.video
        rate = f"{v.fps.numerator}/{v.fps.denominator}" if v.fps.denominator != 1 else str(v.fps.numerator)
        rot = f", rotated {v.rotation}°" if v.rotation else ""
        stdout.print(
            f"  video: {v.codec} {v.width}x{v.height}{rot}, {rate} fps ({float(v.fps):.3f}), "
            f"{v.n_frames} frames, {v.duration:.3f} s"
            + (f", source timecode {v.timecode}" if v.timecode else "")
        )
    else:
        stdout.print("  video: none")
    for a in info.audio:
        stdout.print(
            f"  audio #{a.index}: {a.codec}, {a.sample_rate} Hz, {a.channels} ch, {a.duration:.3f} s"
        )
    if not info.audio:
        stdout.print("  audio: none")


@app.command("reencode")
def reencode_cmd(
    video: Annotated[Path, typer.Argument(help="The source video.", show_default=False)],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Output file (.mp4, .mov or .mkv).", show_default=False)
    ],
    speech: Annotated[
        Path | None,
        typer.Option(
            "--speech",
            help="Audio to put on the video instead of its own track (any format).",
            show_default=False,
        ),
    ] = None,
    no_audio: Annotated[
        bool, typer.Option("--no-audio", help="Allow a source without audio (writes none).")
    ] = False,
    codec: CodecOpt = None,
    crf: Crf = None,
    fps: Fps = None,
    preset: Annotated[
        str, typer.Option("--preset", help="x264 speed preset (ultrafast … veryslow).")
    ] = "medium",
    force: Force = False,
    json_out: Json = False,
) -> None:
    """Decode VIDEO and encode it again, keeping every frame, the size and the audio in sync.

    The audio is VIDEO's own track, or --speech (cut or padded with silence to the video's length).
    """
    chosen = codec_for_path(output, codec.value if codec else None)
    check_output_path(output, overwrite=force)
    rate = parse_fps(fps) if fps else None
    report = Reporter(json_out)
    with report.stage("encoding", None) as update:
        reencode(
            video,
            output,
            codec=chosen,
            crf=crf,
            preset=preset,
            fps=rate,
            speech=speech,
            require_audio=not no_audio,
            overwrite=force,
            on_frame=update,
        )
    info = probe(output)
    assert info.video is not None
    report.result(
        f"wrote {output} ({info.video.n_frames} frames, {info.duration:.3f} s)",
        output=str(output),
        frames=info.video.n_frames,
        duration=info.duration,
    )
