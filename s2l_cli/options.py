"""Options shared by several commands, declared once."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer


class CodecChoice(StrEnum):
    h264 = "h264"
    prores = "prores"
    ffv1 = "ffv1"


Json = Annotated[
    bool, typer.Option("--json", help="Print JSON-lines events (progress, result, error) on stdout.")
]
Force = Annotated[bool, typer.Option("--force", "-f", help="Overwrite the output if it exists.")]
CodecOpt = Annotated[
    CodecChoice | None,
    typer.Option(
        "--codec",
        help="h264 (.mp4, AAC audio), prores (ProRes 422 .mov for editors) or ffv1 (lossless .mkv). "
        "Default: from the output's suffix.",
        show_default=False,
    ),
]
Crf = Annotated[
    int | None, typer.Option("--crf", min=0, max=51, help="H.264 quality: lower is better (default 18).")
]
Fps = Annotated[
    str | None,
    typer.Option(
        "--fps", help="Output frame rate, e.g. 25, 29.97 or 30000/1001 (default: keep the source's)."
    ),
]


class DeviceChoice(StrEnum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


DeviceOpt = Annotated[
    DeviceChoice,
    typer.Option("--device", help="Where the networks run: auto (CUDA if available), cpu or cuda."),
]

FaceOpt = Annotated[
    int | None,
    typer.Option(
        "--face", min=1, help="Which face to follow, numbered from 1 left to right. Default: the largest."
    ),
]
