"""``s2l evaluate``: the paper's metrics for a prediction, against its truth or on its own."""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from s2l_cli.options import Force, Json
from s2l_cli.report import Reporter, stdout
from s2l_model.errors import InputError
from s2l_model.media.probe import check_input_file


class LpipsNet(StrEnum):
    alex = "alex"
    vgg = "vgg"


class Device(StrEnum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


def _device(choice: Device) -> str:
    import torch

    if choice is Device.cuda and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA GPU is available to torch here")
    if choice is Device.auto:
        return "cuda" if torch.cuda.is_available() else "cpu"
    return choice.value


def evaluate_cmd(
    pred: Annotated[
        Path,
        typer.Option("--pred", help="The video to evaluate (e.g. a dub, or a rendering of held-out frames)."),
    ],
    ref: Annotated[
        Path | None,
        typer.Option(
            "--ref",
            help="The truth for --pred: same size and frame rate. Without it only no-reference metrics "
            "(CPBD, sync) are computed.",
        ),
    ] = None,
    speech: Annotated[
        Path | None,
        typer.Option(
            "--speech", help="Speech to check sync against (default: the prediction's own audio track)."
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="Folder for metrics.json, summary.csv, frames.csv and report.html "
            "(default: PRED's name + '.report' beside it).",
        ),
    ] = None,
    no_report: Annotated[
        bool, typer.Option("--no-report", help="Print the summary only; write no files.")
    ] = False,
    syncnet: Annotated[
        Path | None,
        typer.Option(
            "--syncnet",
            help="Public SyncNet weights (syncnet_v2.model) for the standard LSE-C / LSE-D. "
            "Not shipped: s2l never downloads anything.",
        ),
    ] = None,
    phones: Annotated[
        bool,
        typer.Option(
            "--phones/--no-phones",
            help="Also score sync with English phone classes (lips closed on p/b/m, open on open vowels). "
            "Turn off for speech in other languages.",
        ),
    ] = True,
    lpips_net: Annotated[LpipsNet, typer.Option("--lpips-net", help="ST-LPIPS backbone.")] = LpipsNet.alex,
    frame_lpips: Annotated[
        int | None,
        typer.Option(
            "--frame-lpips",
            min=0,
            help="Whole-frame ST-LPIPS on this many evenly spaced frames (0 = every frame). "
            "Default: every frame on a GPU, 32 on a CPU (about 0.5 s per 512x512 frame).",
            show_default=False,
        ),
    ] = None,
    device: Annotated[Device, typer.Option("--device", help="Where the networks run.")] = Device.auto,
    max_frames: Annotated[
        int | None, typer.Option("--max-frames", min=1, help="Evaluate only the first N frames.")
    ] = None,
    force: Force = False,
    json_out: Json = False,
) -> None:
    """Measure a video with the paper's metrics (Sec. 5.1): PSNR, SSIM, LPIPS, CPBD, LMD and sync.

    With --ref, the prediction is compared frame by frame with its truth; PSNR, SSIM and ST-LPIPS are
    reported on the mouth region (a box around the truth's lips, see docs/DESIGN.md) and on the whole
    frame. Without --ref, only no-reference figures: CPBD sharpness and sync.

    Sync without a profile is measured from the face mesh's mouth opening against the speech (its energy
    envelope, and English phone classes), searched over +-15 frames of audio offset like SyncNet, with
    the offset and a confidence reported.
    """
    from s2l_model.evaluate import EvaluateConfig, evaluate_videos
    from s2l_model.evaluate.report import (
        check_report_folder,
        format_value,
        summary_rows,
        write_report,
    )

    check_input_file(pred)
    if ref is not None:
        check_input_file(ref)
    if speech is not None:
        check_input_file(speech)
    if syncnet is not None:
        check_input_file(syncnet)
    folder = None
    if not no_report:
        folder = report if report is not None else pred.with_name(pred.name + ".report")
        check_report_folder(folder, overwrite=force)
    config = EvaluateConfig(
        lpips_backbone=lpips_net.value,
        frame_lpips_samples=frame_lpips,
        phones=phones,
        syncnet=syncnet,
        device=_device(device),
        max_frames=max_frames,
    )
    reporter = Reporter(json_out)
    started = time.perf_counter()
    with reporter.stages() as on_stage:
        evaluation = evaluate_videos(pred, ref, speech=speech, config=config, on_stage=on_stage)
        if folder is not None:
            on_stage("writing report", 0, 1)
            write_report(evaluation, folder, overwrite=True)
            on_stage("writing report", 1, 1)
    seconds = time.perf_counter() - started
    rows = summary_rows(evaluation)
    fields = {
        "prediction": str(pred),
        "truth": None if ref is None else str(ref),
        "frames": evaluation.n_frames,
        "seconds": round(seconds, 2),
        "report": None if folder is None else str(folder / "report.html"),
        "summary": [r.to_dict() for r in rows],
        "notes": evaluation.notes,
    }
    if not json_out:
        has_truth_column = any(r.to_dict()["truth"] is not None for r in rows)
        table = Table(title=f"{pred.name}: {evaluation.n_frames} frames, {evaluation.mode}")
        table.add_column("metric")
        table.add_column("variant")
        table.add_column("prediction", justify="right")
        if has_truth_column:
            table.add_column("truth", justify="right")
        for r in rows:
            cells = [r.metric, r.variant, format_value(r.prediction)]
            table.add_row(*([*cells, format_value(r.truth)] if has_truth_column else cells))
        stdout.print(table)
    lines = [
        f"evaluated {evaluation.n_frames} frames in {seconds:.1f} s; speech for sync: {evaluation.speech}"
    ]
    lines += [f"note: {n}" for n in evaluation.notes]
    if folder is not None:
        lines.append(f"report: {folder / 'report.html'}")
    reporter.result("\n".join(lines), **fields)
