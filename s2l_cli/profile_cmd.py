"""``s2l profile``: learn a speaker. ``prepare`` runs tracking and geometry only, with pictures to check."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from s2l_cli.options import Force, Json
from s2l_cli.report import Reporter
from s2l_model.errors import InputError
from s2l_model.media.probe import check_input_file

app = typer.Typer(help="Learn a speaker from a video.", no_args_is_help=True)


def _time_ranges(ranges: list[dict[str, float]]) -> str:
    return ", ".join(f"{r['start_s']:.2f}-{r['stop_s']:.2f} s" for r in ranges)


@app.command("prepare")
def prepare_cmd(
    ctx: typer.Context,
    video: Annotated[Path, typer.Argument(help="Video of the speaker (one to five minutes is typical).")],
    workdir: Annotated[
        Path, typer.Option("--workdir", "-w", help="Folder for tracks and geometry (created if missing).")
    ],
    face: Annotated[
        int | None,
        typer.Option(
            "--face", min=1, help="Which face to follow, numbered from 1 left to right. Default: the largest."
        ),
    ] = None,
    canonical_frame: Annotated[
        int | None,
        typer.Option(
            "--canonical-frame",
            min=0,
            help="Use this frame (0-based) as the canonical view instead of the scored choice.",
        ),
    ] = None,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            help="Also write pictures to WORKDIR/debug (landmarks, warped frames, depth, motion heatmap) "
            "and measure the geometry.",
        ),
    ] = False,
    force: Force = False,
    json_out: Json = False,
) -> None:
    """Track the face, choose the canonical view, build depth and the mouth region; write them to WORKDIR.

    The face mesh runs on every frame; short gaps where the face is lost are interpolated and long ones are
    excluded (and listed). See docs/DESIGN.md for what each file in WORKDIR holds.
    """
    from s2l_model.prepare.inspect import inspect
    from s2l_model.prepare.pipeline import prepare_video

    debug = debug or bool((ctx.obj or {}).get("debug"))  # the root takes --debug wherever it is typed
    check_input_file(video)
    if workdir.exists() and not workdir.is_dir():
        raise InputError(f"--workdir is a file, expected a folder: {workdir}")
    if not workdir.parent.is_dir():
        raise InputError(f"--workdir's parent folder does not exist: {workdir.parent}")
    if workdir.is_dir() and (workdir / "geometry.json").exists() and not force:
        raise InputError(f"{workdir} already holds a prepared video (pass --force to replace it)")
    report = Reporter(json_out)
    started = time.perf_counter()
    with report.stages() as on_stage:
        prepared = prepare_video(
            video, workdir, face_number=face, canonical_frame=canonical_frame, on_stage=on_stage
        )
    seconds = time.perf_counter() - started
    info = json.loads((workdir / "geometry.json").read_text())
    n = info["frames"]
    lines = [
        f"prepared {video.name}: {n} frames at {info['fps']} fps in {seconds:.1f} s "
        f"({n / seconds:.0f} frames/s)",
        f"face {info['face_number']} of {info['faces_found']} found; seen in {info['frames_seen']} frames, "
        f"{info['frames_usable']} usable",
    ]
    if info["interpolated"]:
        lines.append(
            f"interpolated {len(info['interpolated'])} short gap(s): {_time_ranges(info['interpolated'])}"
        )
    if info["excluded"]:
        excluded = sum(r["stop_frame"] - r["start_frame"] for r in info["excluded"])
        lines.append(f"excluded {excluded} frames where the face was lost: {_time_ranges(info['excluded'])}")
    c = info["canonical"]
    lines.append(
        f"canonical frame {c['frame']} ({c['chosen_by']}): {c['frontal_deg']:.1f} deg from frontal, "
        f"mouth opening {c['mouth_open']:.3f}, sharpness x{c['relative_sharpness']:.2f} of median"
    )
    lines.append(f"camera: pinhole, focal {info['camera']['focal_px']:.0f} px; mouth box {info['mouth_box']}")
    fields: dict[str, Any] = {"workdir": str(workdir), "seconds": round(seconds, 2), **info}
    if debug:
        with report.stage("checking", None):
            result = inspect(prepared, pictures=True)
        lines.append(
            f"checks: O2C->C2O {result.roundtrip_px:.3f} px, "
            f"eye/nose on warped frames {result.landmark_agreement_px:.2f} px, "
            f"motion in mouth box / rest of face {result.motion_ratio_before:.2f} before -> "
            f"{result.motion_ratio_after:.2f} after warping"
        )
        lines.append(f"pictures in {workdir / 'debug'}")
        fields["checks"] = result.to_dict()
    report.result("\n".join(lines), **fields)
