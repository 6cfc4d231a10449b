"""``s2l evaluate``: the paper's metrics for a prediction, against its truth or on its own."""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from s2l_cli.options import DeviceChoice, DeviceOpt, Force, Json
from s2l_cli.report import Reporter, stdout
from s2l_model.errors import InputError
from s2l_model.media.probe import check_input_file


class LpipsNet(StrEnum):
    alex = "alex"
    vgg = "vgg"


def evaluate_cmd(
    profile: Annotated[
        Path | None,
        typer.Argument(
            help="A speaker profile: re-render its held-out frames from their own speech and compare them "
            "with the footage (the paper's protocol).",
            show_default=False,
        ),
    ] = None,
    profile_opt: Annotated[
        Path | None,
        typer.Option(
            "--profile", help="The same as giving SPEAKER.prof as the argument.", show_default=False
        ),
    ] = None,
    pred: Annotated[
        Path | None,
        typer.Option("--pred", help="The video to evaluate (e.g. a dub, or a rendering of held-out frames)."),
    ] = None,
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
    device: DeviceOpt = DeviceChoice.auto,
    max_frames: Annotated[
        int | None, typer.Option("--max-frames", min=1, help="Evaluate only the first N frames.")
    ] = None,
    force: Force = False,
    json_out: Json = False,
) -> None:
    """Measure a profile or a video with the paper's metrics (Sec. 5.1): PSNR, SSIM, LPIPS, CPBD, LMD, sync.

    s2l evaluate SPEAKER.prof renders the profile's held-out frames (the end of its video, never trained
    on) with their own speech and compares them with the real frames; the profile's own sync expert is
    reported as well, labelled as a per-speaker proxy.

    With --ref, the prediction is compared frame by frame with its truth; PSNR, SSIM and ST-LPIPS are
    reported on the mouth region (a box around the truth's lips, see docs/DESIGN.md) and on the whole
    frame. Without --ref, only no-reference figures: CPBD sharpness and sync.

    Sync without a profile is measured from the face mesh's mouth opening against the speech (its energy
    envelope, and English phone classes), searched over +-15 frames of audio offset like SyncNet, with
    the offset and a confidence reported.
    """
    if profile is not None and profile_opt is not None and profile != profile_opt:
        raise InputError("give the profile once: as the argument or with --profile")
    profile = profile or profile_opt
    if (profile is None) == (pred is None):
        raise InputError("give a profile (s2l evaluate SPEAKER.prof) or --pred VIDEO, one of the two")
    if profile is not None and ref is not None:
        raise InputError("--ref goes with --pred; a profile's truth is its own held-out footage")
    subject = profile if profile is not None else pred
    assert subject is not None
    check_input_file(subject)
    if ref is not None:
        check_input_file(ref)
    if speech is not None:
        check_input_file(speech)
    if syncnet is not None:
        check_input_file(syncnet)
    # torch & co. load once the arguments are known to make sense: a typo fails at once.
    from s2l_model.device import choose_device
    from s2l_model.evaluate import EvaluateConfig, evaluate_videos
    from s2l_model.evaluate.report import (
        check_report_folder,
        format_value,
        summary_rows,
        write_report,
    )
    from s2l_model.pipelines.evaluate import evaluate_profile

    folder = None
    if not no_report:
        folder = report if report is not None else subject.with_name(subject.name + ".report")
        check_report_folder(folder, overwrite=force)
    config = EvaluateConfig(
        lpips_backbone=lpips_net.value,
        frame_lpips_samples=frame_lpips,
        phones=phones,
        syncnet=syncnet,
        device=choose_device(device.value).type,
        max_frames=max_frames,
    )
    reporter = Reporter(json_out)
    started = time.perf_counter()
    with reporter.stages() as on_stage:
        if profile is not None:
            evaluation = evaluate_profile(profile, config, on_stage=on_stage)
        else:
            assert pred is not None
            evaluation = evaluate_videos(pred, ref, speech=speech, config=config, on_stage=on_stage)
        if folder is not None:
            on_stage("writing report", 0, 1)
            write_report(evaluation, folder, overwrite=True)
            on_stage("writing report", 1, 1)
    seconds = time.perf_counter() - started
    rows = summary_rows(evaluation)
    fields = {
        "profile": None if profile is None else str(profile),
        "prediction": None if pred is None else str(pred),
        "truth": None if ref is None else str(ref),
        "frames": evaluation.n_frames,
        "seconds": round(seconds, 2),
        "report": None if folder is None else str(folder / "report.html"),
        "summary": [r.to_dict() for r in rows],
        "notes": evaluation.notes,
    }
    if not json_out:
        has_truth_column = any(r.to_dict()["truth"] is not None for r in rows)
        what = "held-out frames" if profile is not None else evaluation.mode
        table = Table(title=f"{subject.name}: {evaluation.n_frames} {what}")
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
