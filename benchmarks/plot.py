"""Figures from the benchmark JSON: PSNR-bpp, LPIPS-bpp, FID-bpp and the dial's PSNR-LPIPS
trade-off per rate, as PNGs next to each JSON; and each shipped model's training curve from its log.

    python -m benchmarks.plot                          # every run JSON in benchmarks/results
    python -m benchmarks.plot benchmarks/results/jpeg-kodak-colour.json
"""
from __future__ import annotations

import argparse
import csv
import importlib.resources
import sys
from pathlib import Path
from typing import List, Optional, Tuple

from base_codecs import DiracError

from . import labels
from .command import run_command
from .results import RESULTS, RUN_SCHEMA, SEARCH_FILE, SEARCH_SCHEMA, curve, kodak_codec_runs, methods_in, read_json, run_files

DIAL_PREFIX = "dirac-r"
CODECS_FIGURE = "kodak-codecs-psnr-bpp.png"
MARKERS = {"dncnn3": "^", "jpegqs": "D"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _title(data: dict) -> str:
    """Which run a figure shows: set, protocol, tag and any non-default dirac sampling (eta, detail_sigma)."""
    settings = data["settings"]
    tag = f" · {settings['tag']}" if settings.get("tag") else ""
    eta = f", eta {settings['eta']:g}" if settings.get("eta") else ""
    if settings.get("detail_sigma") is not None:
        eta += f", detail_sigma {settings['detail_sigma']:g}"
    return f"{data['codec']} · {data['dataset']} · {data['protocol']} protocol{tag} ({settings['images']} images{eta})"


def _save(fig, ax, path: Optional[Path], xlabel: str, ylabel: str, data: dict) -> Optional[Path]:
    """Label and write the figure to ``path`` (None: nothing was drawn, write nothing); free it."""
    if path is not None:
        ax.set(xlabel=xlabel, ylabel=ylabel, title=_title(data))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
    _plt().close(fig)
    return path


def _published_points(data: dict, method: str):
    """Published PSNR placed at the bpp this run measured for the base decode at the same rate."""
    base_bpp = {r["rate"]: r["mean"]["bpp"] for r in data["records"]
                if r["method"] == data["codec"] and r["mean"].get("bpp") is not None}
    points = sorted((base_bpp[p["rate"]], p["psnr"]) for p in data["published"]
                    if p["method"] == method and p["rate"] in base_bpp)
    return [p[0] for p in points], [p[1] for p in points]


def rate_curves(data: dict, y: str, path: Path) -> Optional[Path]:
    """``y`` against bpp, one line per method over the rates (plus published lines for PSNR)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    drawn = False
    for method in methods_in(data):
        xs, ys, _ = curve(data, method, "bpp", y)
        if xs:
            ax.plot(xs, ys, marker=MARKERS.get(method, "o"), label=method)
            drawn = True
    if y == "psnr":
        for method in sorted({p["method"] for p in data["published"]}):
            xs, ys = _published_points(data, method)
            ax.plot(xs, ys, linestyle="--", marker="x", alpha=0.7, label=f"{method} (published)")
    return _save(fig, ax, path if drawn else None, "bits per pixel", labels.metric(y, data["protocol"]), data)


def dial_tradeoff(data: dict, path: Path) -> Optional[Path]:
    """PSNR against LPIPS per rate: the dial's settings joined in realism order, peers as markers."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    rates = sorted({r["rate"] for r in data["records"]})
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    drawn = False
    for i, rate in enumerate(rates):
        colour = colours[i % len(colours)]
        at_rate = [r for r in data["records"] if r["rate"] == rate
                   and r["mean"].get("lpips") is not None and r["mean"].get("psnr") is not None]
        dial = sorted((r for r in at_rate if r["method"].startswith(DIAL_PREFIX)),
                      key=lambda r: float(r["method"][len(DIAL_PREFIX):]))
        if dial:
            ax.plot([r["mean"]["lpips"] for r in dial], [r["mean"]["psnr"] for r in dial], "o-", color=colour,
                    label=f"dirac dial, {labels.rate_label(data['codec'], rate)}")
            for r in dial:
                ax.annotate(r["method"][len(DIAL_PREFIX):], (r["mean"]["lpips"], r["mean"]["psnr"]), fontsize=7,
                            xytext=(3, 3), textcoords="offset points")
        for r in at_rate:
            if not r["method"].startswith(DIAL_PREFIX):
                ax.plot(r["mean"]["lpips"], r["mean"]["psnr"], MARKERS.get(r["method"], "s"), color=colour,
                        mfc="none", label=r["method"] if i == 0 else None)
        drawn = drawn or bool(at_rate)
    return _save(fig, ax, path if drawn else None, labels.metric("lpips") + " (lower is better)",
                 labels.metric("psnr", data["protocol"]), data)


def plot_file(json_path: Path, data: Optional[dict] = None) -> List[Path]:
    """Every figure of one run JSON; figures whose metric was not measured are left out."""
    data = data or read_json(json_path, RUN_SCHEMA)
    stem = json_path.with_suffix("")
    written = [rate_curves(data, y, Path(f"{stem}-{y}-bpp.png")) for y in ("psnr", "lpips", "fid")]
    written.append(dial_tradeoff(data, Path(f"{stem}-dial.png")))
    return [p for p in written if p is not None]


def codec_comparison(runs: List[Tuple[Path, dict]], path: Path) -> Optional[Path]:
    """Each base codec's decode (solid) and its realism-0 enhancement (dashed) on Kodak, PSNR
    against the real bitstreams' bpp, on one figure; None with fewer than two codecs."""
    if len(runs) < 2:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    for i, (_, data) in enumerate(runs):
        colour = f"C{i}"
        for method, style in ((data["codec"], "-"), (labels.setting_name(0), "--")):
            xs, ys, _ = curve(data, method, "bpp", "psnr")
            label = data["codec"] + ("" if method == data["codec"] else " + dirac realism 0")
            ax.plot(xs, ys, style, marker="o", color=colour, label=label)
    ax.set(xlabel="bits per pixel", ylabel=labels.metric("psnr", "colour"), title="Kodak: base codecs and dirac")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def search_curves(json_path: Path) -> Path:
    """The architecture search's held-out gain of each candidate over wall-clock minutes."""
    data = read_json(json_path, SEARCH_SCHEMA)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for c in data["candidates"]:
        ax.plot([p["minutes"] for p in c["curve"]], [p["gain_db"] for p in c["curve"]], label=c["name"])
    ax.set(xlabel="wall-clock minutes of bf16 training", ylabel="held-out PSNR gain (dB)", title="JPEG architecture search")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = json_path.with_suffix(".png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def training_hours(log: Path) -> Tuple[List[float], List[float]]:
    """(hours, held-out PSNR gain) of a training log's validations: the log's clock restarts with
    every resumed or warm-started run, so the runs' times add up."""
    hours, gains, offset, last = [], [], 0.0, 0.0
    with open(log, newline="") as f:
        for row in csv.DictReader(f):
            seconds = float(row["seconds"])
            offset, last = offset + (last if seconds < last else 0.0), seconds
            if row["val_psnr_gain_db"]:
                hours.append((offset + seconds) / 3600)
                gains.append(float(row["val_psnr_gain_db"]))
    return hours, gains


def training_curve(log: Path, path: Path) -> Path:
    """The held-out gain of a weights folder's training over its hours, as a PNG."""
    hours, gains = training_hours(log)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4))
    ax.plot(hours, gains)
    ax.set(xlabel="hours of training (this model's runs, added up)", ylabel="held-out PSNR gain (dB)",
           title=f"{log.parent.name} weights: one-call output over the base decode")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.plot", description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="*", type=Path, help="run JSON files (default: all in --results)")
    p.add_argument("--results", type=Path, default=RESULTS)
    args = p.parse_args(argv)

    def work():
        targets = [(f, read_json(f, RUN_SCHEMA)) for f in args.files] or list(run_files(args.results))
        if not targets:
            raise DiracError(f"no benchmark results in {args.results}; run `python -m benchmarks.run` first")
        for path, data in targets:
            yield from plot_file(path, data)
        if not args.files and (args.results / SEARCH_FILE).is_file():
            yield search_curves(args.results / SEARCH_FILE)
        if not args.files:
            comparison = codec_comparison(kodak_codec_runs(args.results), args.results / CODECS_FIGURE)
            if comparison is not None:
                yield comparison
        if not args.files:
            for log in sorted(Path(str(importlib.resources.files("dirac") / "weights")).glob("*/train_log.csv")):
                yield training_curve(log, args.results / f"{log.parent.name}-training-curve.png")

    return run_command(work)


if __name__ == "__main__":
    sys.exit(main())
