"""`s2l dub`: make a built speaker say new speech."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from s2l_cli.options import CodecOpt, Crf, DeviceChoice, DeviceOpt, Force, Fps, Json
from s2l_cli.report import Reporter
from s2l_model.errors import InputError
from s2l_model.media import TimeSpec, parse_fps, parse_time
from s2l_model.media.probe import check_input_file

#: Beyond about 3× the calibrated amplitude the lip field is asked for mouths far outside any it has seen.
MAX_MOUTH_AMP = 3.0


class BackgroundChoice(StrEnum):
    loop = "loop"
    pingpong = "pingpong"
    hold = "hold"


def dub_cmd(
    profile: Annotated[Path, typer.Argument(help="The speaker's profile (.prof), from `s2l profile build`.")],
    speech: Annotated[
        Path,
        typer.Argument(
            help="What they should say: any audio or video file with sound (wav, mp3, m4a, flac, mp4, …), "
            "any sample rate, channels or length."
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="The video to write: .mp4 (H.264), .mov (ProRes 422) or .mkv (lossless FFV1).",
        ),
    ],
    video: Annotated[
        Path | None,
        typer.Option(
            "--video",
            help="Other footage of the same speaker to dub onto (tracked on the fly; same resolution as "
            "the profile). Default: the profile's own footage.",
        ),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(
            "--start",
            metavar="TIME",
            help="Where in the footage the background starts: seconds (12.5), HH:MM:SS.mmm (00:00:12.5), "
            "MM:SS.mmm (00:12.5), SMPTE timecode HH:MM:SS:FF (01:00:12:05, counted from the footage's source "
            "timecode when it has one) or drop-frame HH:MM:SS;FF (01:00:12;05). Default: its first frame.",
        ),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(
            "--end",
            metavar="TIME",
            help="Where in the footage the background stops (it loops or turns before): the same forms as "
            "--start.",
        ),
    ] = None,
    background: Annotated[
        BackgroundChoice,
        typer.Option(
            "--background",
            help="When the speech outlasts the footage: loop (wraps where the footage returns to its start; "
            "turns back if it never does), pingpong (plays back and forth) or hold (a still frame).",
        ),
    ] = BackgroundChoice.loop,
    mouth_amp: Annotated[
        float,
        typer.Option(
            "--mouth-amp",
            metavar="X",
            help="How far the mouth moves from rest: 1 as the profile calibrated it on the speaker's own "
            "footage, 1.3 livelier, 0.7 calmer, 0 the resting mouth throughout.",
        ),
    ] = 1.0,
    codec: CodecOpt = None,
    crf: Crf = None,
    fps: Fps = None,
    device: DeviceOpt = DeviceChoice.auto,
    force: Force = False,
    json_out: Json = False,
) -> None:
    """Make the speaker of PROFILE say SPEECH; write a video at the footage's resolution.

    Only the lower face is re-rendered (every pixel outside the blend region is the footage's pixel). The
    output has exactly round(duration × fps) frames and carries SPEECH's own audio. Silence, and the quiet
    before and after speech, gives a closed, still mouth.

    Example: s2l dub speaker.prof line.wav -o line.mp4
    """
    # Bad text fails here, before anything is opened or loaded; the footage's clock then places the times.
    if not 0.0 <= mouth_amp <= MAX_MOUTH_AMP:
        raise InputError(f"--mouth-amp must be between 0 and {MAX_MOUTH_AMP:g}, got {mouth_amp:g}")
    times = {
        name: _parse(name, text) for name, text in (("--start", start), ("--end", end)) if text is not None
    }
    check_input_file(profile)
    check_input_file(speech)
    if video is not None:
        check_input_file(video)
    # torch & co. load only once the input is known to exist: a typo fails in a fraction of a second.
    from s2l_model.dub import DubOptions, dub
    from s2l_model.dub.clock import resolve_times

    seconds = resolve_times(times, profile, video) if times else {}
    options = DubOptions(
        background=background.value,
        start=seconds.get("--start", 0.0),
        end=seconds.get("--end"),
        video=video,
        fps=parse_fps(fps) if fps else None,
        codec=codec.value if codec else None,
        crf=crf,
        device=device.value,
        overwrite=force,
        mouth_amp=mouth_amp,
    )
    report = Reporter(json_out)
    with report.stages() as on_stage:
        result = dub(profile, speech, output, options, on_stage=on_stage)
    speed = result.frames / max(result.wall_seconds, 1e-9)
    first, last = result.footage_frames
    lines = [
        f"wrote {result.output} ({result.frames} frames at {float(result.fps):g} fps, "
        f"{result.seconds:.2f} s) in {result.wall_seconds:.1f} s on {result.device} ({speed:.1f} frames/s)",
        f"background: {result.background}, footage frames {first}-{last}; "
        f"speech in {100 * result.speaking_share:.0f} % of frames",
    ]
    if result.dissolve:
        kind = "aligned cross-fade (one shot in two framings)" if result.aligned else "cross-fade"
        lines.append(f"loop: {result.dissolve}-frame {kind} at {len(result.wraps)} wrap(s)")
    lines += [f"note: {n}" for n in result.notes]
    report.result(
        "\n".join(lines),
        output=str(result.output),
        frames=result.frames,
        fps=f"{result.fps.numerator}/{result.fps.denominator}",
        seconds=round(result.seconds, 4),
        background=result.background,
        footage_frames=list(result.footage_frames),
        dissolve_frames=result.dissolve,
        dissolve_aligned=result.aligned,
        wraps=result.wraps,
        device=result.device,
        wall_seconds=round(result.wall_seconds, 2),
        frames_per_second=round(speed, 2),
        speaking_share=round(result.speaking_share, 4),
        notes=result.notes,
    )


def _parse(name: str, text: str) -> TimeSpec:
    """``text`` as a time, or the syntax error naming the option."""
    try:
        return parse_time(text)
    except InputError as exc:
        raise InputError(f"{name} {exc}") from None
