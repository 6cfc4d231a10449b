"""Evaluation reports: a summary table, JSON, CSV and a self-contained HTML folder.

The report folder is built beside its target under a temporary name and renamed into place at the end,
so an interrupted evaluation never leaves a half report behind:

    metrics.json   everything: inputs, the summary table, sync curves, notes, per-frame columns
    summary.csv    the summary table (metric, variant, prediction, truth)
    frames.csv     per-frame figures, one row per frame (empty cells where undefined)
    report.html    summary, notes, per-frame plots and the worst frames (relative links only)
    plots/*.png, worst/*.png
"""

from __future__ import annotations

import csv
import html
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from s2l_model import __version__
from s2l_model.errors import InputError
from s2l_model.evaluate.compare import Evaluation
from s2l_model.media.atomic import current_umask, write_png
from s2l_model.metrics import finite_or_none

REPORT_MARKERS = ("metrics.json", "report.html")  # what makes a folder an s2l report
if TYPE_CHECKING:
    from matplotlib.figure import Figure

DIFF_GAIN = 4  # the difference pictures are |prediction - truth| x 4, so small errors are visible


@dataclass(frozen=True)
class Row:
    metric: str  # the paper's column: PSNR, SSIM, LPIPS, CPBD, LMD, Sync
    variant: str  # which variant, said in words
    prediction: float
    truth: float  # the truth's own figure where that makes sense (CPBD, sync), else NaN
    better: str  # "higher" or "lower"

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "variant": self.variant,
            "prediction": finite_or_none(self.prediction),
            "truth": finite_or_none(self.truth),
            "better": self.better,
        }


def summary_rows(evaluation: Evaluation) -> list[Row]:
    """The paper's columns (PSNR, SSIM, LPIPS, CPBD, LMD, Sync) with the variant of each named."""
    e = evaluation
    nan = float("nan")
    rows: list[Row] = []
    if e.mode == "reference":
        lpips = f"ST-LPIPS ({e.lpips_backbone})"
        counted = e.count("stlpips_frame")
        rows += [
            Row("PSNR", "mouth region, dB", e.mean("psnr_mouth"), nan, "higher"),
            Row("PSNR", "whole frame, dB", e.mean("psnr_frame"), nan, "higher"),
            Row("SSIM", "mouth region", e.mean("ssim_mouth"), nan, "higher"),
            Row("SSIM", "whole frame", e.mean("ssim_frame"), nan, "higher"),
        ]
        if "psnr_mouth_square" in e.columns:
            square = "square mouth box (1.6 mouth widths a side)"
            rows += [
                Row("PSNR", f"{square}, dB", e.mean("psnr_mouth_square"), nan, "higher"),
                Row("SSIM", square, e.mean("ssim_mouth_square"), nan, "higher"),
            ]
        rows += [
            Row("LPIPS", f"{lpips}, mouth region", e.mean("stlpips_mouth"), nan, "lower"),
            Row(
                "LPIPS",
                f"{lpips}, whole frame, {counted}/{e.n_frames} frames",
                e.mean("stlpips_frame"),
                nan,
                "lower",
            ),
        ]
    rows += [
        Row(
            "CPBD",
            "mouth region (at least 128 px a side)",
            e.mean("cpbd_mouth"),
            e.mean("cpbd_mouth_truth"),
            "higher",
        ),
        Row("CPBD", "whole frame", e.mean("cpbd_frame"), e.mean("cpbd_frame_truth"), "higher"),
    ]
    if e.mode == "reference":
        rows += [
            Row("LMD", "40 lip landmarks, px", e.mean("lmd_px"), nan, "lower"),
            Row("LMD", "40 lip landmarks / inter-ocular distance", e.mean("lmd_iod"), nan, "lower"),
        ]
    labels = {
        "envelope": "profile-free, speech envelope r",
        "phones": "profile-free, en-us phones d'",
        "expert": "profile sync expert (per-speaker proxy), cosine",
    }
    for kind, label in labels.items():
        pred, truth = e.sync.get(f"prediction/{kind}"), e.sync.get(f"truth/{kind}")
        if pred is not None:
            detail = f"{label} (best offset {pred.offset:+d}, conf. {format_value(pred.confidence)})"
            rows.append(Row("Sync", detail, pred.score, truth.score if truth else nan, "higher"))
    pred_lse, truth_lse = e.lse.get("prediction"), e.lse.get("truth")
    if pred_lse is not None:
        note = "SyncNet port, unverified"
        rows += [
            Row(
                "Sync",
                f"LSE-C ({note}; offset {pred_lse.offset_frames:+d})",
                pred_lse.lse_c,
                truth_lse.lse_c if truth_lse else nan,
                "higher",
            ),
            Row("Sync", f"LSE-D ({note})", pred_lse.lse_d, truth_lse.lse_d if truth_lse else nan, "lower"),
        ]
    return rows


def format_value(value: float) -> str:
    if not np.isfinite(value):
        return "n/a"
    return f"{value:.2f}" if abs(value) >= 10 else f"{value:.4f}"


def evaluation_dict(evaluation: Evaluation) -> dict[str, Any]:
    e = evaluation
    return {
        "s2l_version": __version__,
        "mode": e.mode,
        "prediction": str(e.prediction),
        "truth": None if e.reference is None else str(e.reference),
        "speech": e.speech,
        "fps": e.fps,
        "frames": e.n_frames,
        "size": [e.width, e.height],
        "mouth_region": e.region,
        "mouth_region_square": e.region_square,
        "summary": [r.to_dict() for r in summary_rows(e)],
        "sync": {key: score.to_dict() for key, score in e.sync.items()},
        "lse": {
            role: {
                "lse_c": finite_or_none(r.lse_c),
                "lse_d": finite_or_none(r.lse_d),
                "offset_frames": r.offset_frames,
            }
            for role, r in e.lse.items()
        },
        "worst_frames": [{"frame": w.index, "value": finite_or_none(w.value)} for w in e.worst],
        "notes": e.notes,
        "per_frame": {name: [finite_or_none(v) for v in values] for name, values in e.columns.items()},
    }


def _write_csvs(evaluation: Evaluation, folder: Path) -> None:
    with open(folder / "summary.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["metric", "variant", "prediction", "truth", "better"])
        for r in summary_rows(evaluation):
            writer.writerow([r.metric, r.variant, _cell(r.prediction), _cell(r.truth), r.better])
    names = list(evaluation.columns)
    with open(folder / "frames.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        for i in range(evaluation.n_frames):
            writer.writerow([_cell(evaluation.columns[name][i], integer=name == "frame") for name in names])


def _cell(value: float, integer: bool = False) -> str:
    if not np.isfinite(value):
        return ""
    return str(int(value)) if integer else f"{value:.6g}"


def _plots(evaluation: Evaluation, folder: Path) -> list[tuple[str, str]]:
    """Per-frame plots as PNG files; returns (relative path, caption) pairs."""
    # Figure objects without pyplot: no global backend or figure state, no display needed
    from matplotlib.figure import Figure

    e = evaluation
    t = e.columns["time_s"]
    panels: list[tuple[str, str, list[tuple[str, str]]]] = []
    if e.mode == "reference":
        panels += [
            (
                "quality",
                "Image quality per frame (mouth region)",
                [("psnr_mouth", "PSNR dB"), ("ssim_mouth", "SSIM"), ("stlpips_mouth", "ST-LPIPS")],
            ),
            ("landmarks", "Lip landmark distance per frame", [("lmd_px", "LMD px")]),
        ]
    panels.append(
        (
            "sharpness",
            "CPBD sharpness per frame",
            [("cpbd_mouth", "CPBD mouth"), ("cpbd_frame", "CPBD frame")],
        )
    )
    out: list[tuple[str, str]] = []
    (folder / "plots").mkdir()
    for name, caption, series in panels:
        fig = Figure(figsize=(10, 2.2 * len(series)))
        axes = fig.subplots(len(series), 1, sharex=True, squeeze=False)
        for ax, (column, label) in zip(axes[:, 0], series, strict=True):
            ax.plot(t, e.columns[column], lw=0.9, label="prediction")
            if f"{column}_truth" in e.columns:
                ax.plot(t, e.columns[f"{column}_truth"], lw=0.9, alpha=0.7, label="truth")
                ax.legend(loc="upper right", fontsize=8)
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        axes[-1, 0].set_xlabel("time (s)")
        fig.tight_layout()
        fig.savefig(folder / "plots" / f"{name}.png", dpi=90)
        out.append((f"plots/{name}.png", caption))
    if e.sync:
        out.append(_sync_plot(e, folder, Figure(figsize=(10, 5))))
    return out


def _zscore(values: np.ndarray) -> np.ndarray:
    finite = np.isfinite(values)
    if finite.sum() < 2 or np.nanstd(values) == 0:
        return values
    return (values - np.nanmean(values)) / np.nanstd(values)


def _sync_plot(e: Evaluation, folder: Path, fig: Figure) -> tuple[str, str]:
    top, bottom = fig.subplots(2, 1)
    t = e.columns["time_s"]
    top.plot(t, _zscore(e.columns["opening"]), lw=0.9, label="mouth opening (prediction)")
    if "speech_db" in e.columns:
        top.plot(t, _zscore(e.columns["speech_db"]), lw=0.9, alpha=0.7, label="speech energy 300-3000 Hz")
    top.set_xlabel("time (s)")
    top.set_ylabel("z-score")
    top.legend(loc="upper right", fontsize=8)
    top.grid(alpha=0.3)
    for key, score in e.sync.items():
        offsets = np.arange(len(score.curve)) - len(score.curve) // 2
        bottom.plot(offsets, score.curve, marker=".", lw=0.9, label=key)
    bottom.axvline(0, color="k", lw=0.6)
    bottom.set_xlabel("audio offset (frames; + = audio later than lips)")
    bottom.set_ylabel("score")
    bottom.legend(loc="upper right", fontsize=8)
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(folder / "plots" / "sync.png", dpi=90)
    return "plots/sync.png", "Sync: mouth opening against the speech, and each score over audio offsets"


def _worst_pictures(evaluation: Evaluation, folder: Path) -> list[tuple[str, str]]:
    (folder / "worst").mkdir()
    out = []
    for w in evaluation.worst:
        tiles = [w.prediction]
        if w.truth is not None:
            diff = np.abs(w.prediction.astype(np.int16) - w.truth.astype(np.int16)) * DIFF_GAIN
            tiles += [w.truth, np.clip(diff, 0, 255).astype(np.uint8)]
        gap = np.full((w.prediction.shape[0], 6, 3), 255, np.uint8)
        row = np.concatenate([x for tile in tiles for x in (tile, gap)][:-1], axis=1)
        name = f"worst/frame_{w.index:06d}.png"
        write_png(folder / name, row)
        what = "mouth PSNR" if w.truth is not None else "mouth CPBD"
        out.append(
            (name, f"frame {w.index} ({w.index / evaluation.fps:.2f} s), {what} {format_value(w.value)}")
        )
    return out


def _html(evaluation: Evaluation, plots: list[tuple[str, str]], worst: list[tuple[str, str]]) -> str:
    e = evaluation
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(r.metric)}</td><td>{esc(r.variant)}</td><td>{format_value(r.prediction)}</td>"
        f"<td>{format_value(r.truth)}</td><td>{r.better}</td></tr>"
        for r in summary_rows(e)
    )
    notes = "".join(f"<li>{esc(n)}</li>" for n in e.notes) or "<li>none</li>"
    figures = "".join(
        f'<figure><img src="{p}" alt="{esc(c)}"><figcaption>{esc(c)}</figcaption></figure>' for p, c in plots
    )
    layout = "prediction | truth | |difference| x 4" if e.mode == "reference" else "prediction"
    worst_html = "".join(
        f'<figure><img src="{p}" alt="{esc(c)}"><figcaption>{esc(c)}</figcaption></figure>' for p, c in worst
    )
    truth = esc(str(e.reference)) if e.reference else "none (no-reference metrics only)"
    square = f"<br>Square mouth box: {esc(e.region_square)}" if e.region_square else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>s2l evaluation: {esc(e.prediction.name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; max-width: 1100px; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 4px 8px; }}
td:nth-child(3), td:nth-child(4) {{ text-align: right; font-variant-numeric: tabular-nums; }}
img {{ max-width: 100%; }} figure {{ margin: 1em 0; }} figcaption {{ color: #555; font-size: 0.9em; }}
</style></head><body>
<h1>s2l evaluation</h1>
<p>Prediction: <code>{esc(str(e.prediction))}</code><br>Truth: <code>{truth}</code><br>
Speech for sync: {esc(e.speech)}<br>{e.n_frames} frames at {e.fps:g} fps, {e.width}x{e.height}<br>
Mouth region: {esc(e.region)}{square}</p>
<h2>Summary</h2>
<table><tr><th>metric</th><th>variant</th><th>prediction</th><th>truth</th><th>better</th></tr>{rows}</table>
<p>Means over the frames where a figure is defined. PSNR of identical frames is capped at 100 dB.
Sync: r = correlation of the mouth opening with the speech's 300-3000 Hz energy;
d' = separation of the mouth opening on open vowels vs p/b/m; both at offset 0, with the best offset
of -15..+15 frames and its confidence (peak - median) in brackets. These are profile-free proxies, not
SyncNet's; LSE rows appear only with --syncnet.</p>
<h2>Notes</h2><ul>{notes}</ul>
<h2>Per frame</h2>{figures}
<h2>Worst frames</h2><p>{layout}; the mouth region with its surroundings.</p>{worst_html}
<p><small>s2l {__version__}</small></p>
</body></html>
"""


def check_report_folder(folder: str | os.PathLike[str], *, overwrite: bool) -> Path:
    """Refuse a report target that is a file, a non-empty folder (unless ``overwrite``) or has no parent."""
    target = Path(folder)
    if target.exists() and not target.is_dir():
        raise InputError(f"report path is a file, expected a folder: {target}")
    if target.exists() and any(target.iterdir()):
        if not overwrite:
            raise InputError(f"{target} already exists and is not empty (pass --force to replace it)")
        # --force replaces an earlier report, never a folder of other files the user pointed at by mistake
        if not all((target / name).is_file() for name in REPORT_MARKERS):
            raise InputError(f"{target} is not empty and is not an s2l report: not replacing it")
    if not target.parent.is_dir():
        raise InputError(f"the report's parent folder does not exist: {target.parent}")
    return target


def write_report(evaluation: Evaluation, folder: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write the report folder (see the module doc) atomically; returns its path."""
    target = check_report_folder(folder, overwrite=overwrite)
    building = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        os.chmod(building, 0o777 & ~current_umask())  # mkdtemp makes it private
        (building / "metrics.json").write_text(json.dumps(evaluation_dict(evaluation), indent=1) + "\n")
        _write_csvs(evaluation, building)
        plots = _plots(evaluation, building)
        worst = _worst_pictures(evaluation, building)
        (building / "report.html").write_text(_html(evaluation, plots, worst))
        if target.exists():
            shutil.rmtree(target)
        os.replace(building, target)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return target
