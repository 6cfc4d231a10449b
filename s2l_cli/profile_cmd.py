"""``s2l profile``: learn a speaker. ``prepare`` runs tracking and geometry only, with pictures to check."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from s2l_cli.options import DeviceChoice, DeviceOpt, FaceOpt, Force, Json
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
    face: FaceOpt = None,
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
    from s2l_model.prepare.workfolder import PrepFolder

    debug = debug or bool((ctx.obj or {}).get("debug"))  # the root takes --debug wherever it is typed
    check_input_file(video)
    if workdir.exists() and not workdir.is_dir():
        raise InputError(f"--workdir is a file, expected a folder: {workdir}")
    if not workdir.parent.is_dir():
        raise InputError(f"--workdir's parent folder does not exist: {workdir.parent}")
    if PrepFolder(workdir).is_complete() and not force:
        raise InputError(f"{workdir} already holds a prepared video (pass --force to replace it)")
    report = Reporter(json_out)
    started = time.perf_counter()
    with report.stages() as on_stage:
        prepared = prepare_video(
            video, workdir, face_number=face, canonical_frame=canonical_frame, on_stage=on_stage
        )
    seconds = time.perf_counter() - started
    info = prepared.summary
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
        lines.append(f"pictures in {PrepFolder(workdir).debug}")
        fields["checks"] = result.to_dict()
    report.result("\n".join(lines), **fields)


@app.command("build")
def build_cmd(
    video: Annotated[
        Path, typer.Argument(help="Video of the speaker talking (one to five minutes is typical).")
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="The profile to write (default: VIDEO's name + .prof)."),
    ] = None,
    preset: Annotated[
        str,
        typer.Option(
            "--preset",
            help='fast (CPU-friendly), balanced, quality (GPU), or a .toml file (may say extends = "fast").',
        ),
    ] = "fast",
    device: DeviceOpt = DeviceChoice.auto,
    budget: Annotated[
        float | None,
        typer.Option(
            "--budget",
            min=0.1,
            help="Wall-clock minutes for the whole build; training stops early to finish in time.",
        ),
    ] = None,
    test_split: Annotated[
        float,
        typer.Option(
            "--test-split", help="Fraction of the video, at its end, held out from training to measure."
        ),
    ] = 0.1,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted build of the same video and settings.")
    ] = False,
    workdir: Annotated[
        Path | None,
        typer.Option(
            "--workdir",
            help="Keep tracks, training set and checkpoints here (default: a hidden folder beside the "
            "output, removed once the profile is written).",
        ),
    ] = None,
    face: FaceOpt = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the training.")] = 0,
    no_eval: Annotated[
        bool, typer.Option("--no-eval", help="Skip the held-out check (its figures are not stored then).")
    ] = False,
    force: Force = False,
    json_out: Json = False,
) -> None:
    """Learn a speaker and write a portable SPEAKER.prof.

    Stages: tracking, canonical geometry, training set, sync expert, training, held-out check, writing.
    The last 10 % of the video (--test-split) is never trained on; the profile stores the paper's metrics
    on it. Ctrl-C saves a checkpoint; run the same command with --resume to continue.
    """
    from s2l_model.errors import Interrupted
    from s2l_model.media.atomic import check_output_path
    from s2l_model.prepare.workfolder import WorkFolder

    check_input_file(video)
    out = output if output is not None else video.with_suffix(".prof")
    check_output_path(out, overwrite=force or resume)
    if workdir is not None and workdir.exists() and not workdir.is_dir():
        raise InputError(f"--workdir is a file, expected a folder: {workdir}")
    from s2l_model.pipelines.build import BuildOptions, build_profile, default_workdir  # torch & co.

    options = BuildOptions(
        preset=preset,
        device=device.value,
        budget_minutes=budget,
        test_split=test_split,
        resume=resume,
        workdir=workdir,
        seed=seed,
        evaluate=not no_eval,
        face=face,
    )
    report = Reporter(json_out)
    started = time.perf_counter()
    with report.stages() as on_stage:

        def on_train(p: Any) -> None:
            extra: dict[str, Any] = {"loss": f"{p.losses.get('total', p.losses.get('sync_expert', 0.0)):.4f}"}
            if p.heldout_psnr is not None:
                extra["held-out lip PSNR"] = f"{p.heldout_psnr:.2f} dB"
            on_stage(p.stage, p.step, p.steps, **extra)

        try:
            result = build_profile(video, out, options, on_stage=on_stage, on_train=on_train)
        except KeyboardInterrupt:
            where = workdir or default_workdir(out)
            if not WorkFolder(where).can_resume():
                raise Interrupted("interrupted before training started; nothing to resume") from None
            raise Interrupted(
                f"interrupted; the work so far is in {where}: run the same command with --resume to continue"
            ) from None
    seconds = time.perf_counter() - started
    m = result.metrics
    t = result.train
    lines = [
        f"wrote {out} ({result.profile_bytes / 1e6:.1f} MB, of which footage "
        f"{result.footage_bytes / 1e6:.1f} MB) in {seconds / 60:.1f} min on {result.device}",
        f"trained {t.steps_done} steps (+{t.expert_steps_done} sync-expert steps) in "
        f"{t.seconds / 60:.1f} min, stopped by {t.stopped_by}",
    ]
    check = t.mouth_check
    if check:
        lines.append(
            f"mouth stage: {t.mouth_steps_done} steps; on {check['frames']:.0f} training frames it never "
            f"trained on, the predicted mouth opening follows the real one with r = {check['opening_r']:.2f} "
            f"(std ratio {check['opening_std_ratio']:.2f})"
        )
    if m:
        lines.append(
            f"held-out ({m['frames']} frames): mouth PSNR {m['psnr_mouth']} dB, SSIM {m['ssim_mouth']}, "
            f"LMD {m['lmd_px']} px, whole-frame PSNR {m['psnr_frame']} dB"
        )
    lines += [f"note: {n}" for n in result.notes]
    report.result(
        "\n".join(lines),
        output=str(out),
        seconds=round(seconds, 1),
        stage_seconds=result.stage_seconds,
        steps=t.steps_done,
        mouth_steps=t.mouth_steps_done,
        mouth_check=check,
        stopped_by=t.stopped_by,
        profile_bytes=result.profile_bytes,
        footage_bytes=result.footage_bytes,
        device=result.device,
        metrics=m,
    )


@app.command("info")
def info_cmd(
    profile: Annotated[Path, typer.Argument(help="A speaker profile (.prof).")],
    verify: Annotated[
        bool,
        typer.Option(
            "--verify/--no-verify",
            help="Check every member's sha256, footage included (a second or so per 100 MB). With "
            "--no-verify only the manifest is read.",
        ),
    ] = True,
    json_out: Json = False,
) -> None:
    """Show what a profile holds: source, size, split, training, held-out metrics, members.

    A damaged or altered profile (any member whose bytes do not match its sha256) is refused with exit 2,
    naming the members; `s2l profile verify` checks without the summary.
    """
    from s2l_model.profile.container import read_manifest
    from s2l_model.profile.manifest import ProfileManifest

    check_input_file(profile)
    stored = read_manifest(profile)
    m = ProfileManifest.from_dict(stored, label=profile.name)
    integrity = _verify(profile, json_out) if verify else "not checked (--no-verify)"
    if json_out:
        from s2l_cli.report import emit

        emit("result", profile=str(profile), manifest=stored, verified=verify)
        return
    from rich.table import Table

    from s2l_cli.report import stdout

    table = Table(title=f"{profile.name}", show_header=False)
    table.add_column("field")
    table.add_column("value")
    split, tr = m.split, m.training
    rows = [
        ("format", f"version {m.format_version}, written by s2l {m.s2l_version}"),
        (
            "source",
            f"{m.source.name} ({m.width}x{m.height}, {m.fps.numerator}/{m.fps.denominator} fps, "
            f"{m.frames} frames)",
        ),
        ("canonical frame", str(m.canonical_frame)),
        (
            "split",
            f"trained on frames {_span(split.train)}, held out {_span(split.heldout)}",
        ),
        ("preset", m.preset_name),
        (
            "training",
            f"{tr.steps} steps + {tr.sync_expert_steps} sync-expert steps, "
            f"{tr.seconds / 60:.1f} min on {tr.device}, stopped by {tr.stopped_by}",
        ),
        ("size", f"{m.stored_bytes / 1e6:.1f} MB in members, footage {m.footage_bytes / 1e6:.1f} MB"),
        ("integrity", integrity),
    ]
    for key, value in m.metrics.items():
        if not key.startswith("sync_offset/"):
            rows.append((f"held-out {key}", "n/a" if value is None else str(value)))
    for k, v in rows:
        table.add_row(k, v)
    stdout.print(table)


@app.command("verify")
def verify_cmd(
    profile: Annotated[Path, typer.Argument(help="A speaker profile (.prof).")],
    json_out: Json = False,
) -> None:
    """Check that every member of a profile (weights, arrays, images, footage) matches its sha256.

    Use it on a profile you were sent, or one that sat on a shared drive. Exit 0 when every byte matches;
    exit 2, naming each damaged member, when any does not.
    """
    check_input_file(profile)
    integrity = _verify(profile, json_out)
    Reporter(json_out).result(f"{profile.name}: {integrity}", profile=str(profile), ok=True)


def _verify(profile: Path, json_out: bool) -> str:
    """Check every member's hash (a progress bar for big profiles); InputError naming the damaged ones."""
    from s2l_model.profile.container import verify_profile

    with Reporter(json_out).stages() as on_stage:
        check = verify_profile(
            profile, lambda done, total: on_stage("verifying (MB)", -(-done // 10**6), -(-total // 10**6))
        )
    if not check.ok:
        names = ", ".join(check.damaged)
        raise InputError(
            f"{profile.name} is damaged: {len(check.damaged)} of {len(check.members)} members do not match "
            f"their sha256 ({names}); ask for a fresh copy or rebuild it"
        )
    return f"all {len(check.members)} members match their sha256 ({check.checked_bytes / 1e6:.1f} MB checked)"


def _span(frames: range) -> str:
    """A frame range as the manifest stores it: ``[start, stop]``."""
    return f"[{frames.start}, {frames.stop}]"
