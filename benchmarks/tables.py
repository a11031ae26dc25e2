"""Markdown tables from the benchmark JSON, written into ``benchmarks/README.md`` between
``<!-- tables:begin -->`` and ``<!-- tables:end -->`` so the hand-written text around them stays.

    python -m benchmarks.tables              # rewrite the README's tables from benchmarks/results
    python -m benchmarks.tables --print      # only print them
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional, Tuple

from base_codecs import DiracError

from . import labels
from .command import run_command
from .results import RESULTS, SEARCH_FILE, SEARCH_SCHEMA, SPEED_FILE, SPEED_SCHEMA, curve, kodak_codec_runs, methods_in, read_json, run_files
from .scoring import HIGHER_IS_BETTER

BEGIN, END = "<!-- tables:begin -->", "<!-- tables:end -->"
README = Path(__file__).resolve().parent / "README.md"
COLUMNS = ("bpp", "psnr", "ms_ssim", "lpips", "dists", "fid", "kid", "seconds")


def _row(cells: List[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _commit(env: dict) -> str:
    return (env.get("git_commit") or "?")[:8] + (" (dirty)" if env.get("git_dirty") else "")


def _provenance(data: dict) -> str:
    env, s = data["environment"], data["settings"]
    commit = _commit(env)
    machine = env["machine"]
    extra = (f", {s['crop']}px crops" if s.get("crop") else "") + ("" if data.get("complete", True) else ", INCOMPLETE")
    if s.get("eta"):  # a non-default sampler must not pass for the default one
        extra += f", dirac steps with eta {s['eta']:g} ({'DDPM' if s['eta'] == 1 else 'between DDIM and DDPM'})"
    if s.get("detail_sigma") is not None:  # likewise a detail scale set for the run, not the weights' own
        extra += f", dirac detail_sigma {s['detail_sigma']:g}"
    elif any(m.get("realism", 0) > 0 and "detail_sigma" not in m for m in data.get("methods", {}).values()):
        extra += ", dirac steps' whole output (measured before detail_sigma existed)"
    return (f"{s['images']} images{extra}; {env['timestamp']}, commit {commit}; "
            f"{machine['cpu_model']}, {machine['cores']} cores, {machine.get('torch_threads')} torch threads")


def _best(records: List[dict], column: str) -> Optional[float]:
    values = [{**r["mean"], **r["set"]}.get(column) for r in records]
    values = [v for v in values if v is not None]
    if column not in HIGHER_IS_BETTER or len(values) < 2:
        return None
    return max(values) if HIGHER_IS_BETTER[column] else min(values)


def run_table(data: dict) -> str:
    """One section per run JSON: a table per rate, measured methods then published lines."""
    protocol = data["protocol"]
    tag = data["settings"].get("tag")
    title = f"### {data['codec']} · {data['dataset']} · {protocol} protocol" + (f" · {tag}" if tag else "")
    lines = [title, "", _provenance(data), ""]
    header = ["method"] + [labels.metric(c, protocol) for c in COLUMNS]
    notes = {**{m: f"skipped: {why}" for m, why in data["skipped"].items()}, **data.get("metric_notes", {})}
    for rate in sorted({r["rate"] for r in data["records"]}):
        records = [r for r in data["records"] if r["rate"] == rate]
        order = {m: i for i, m in enumerate(methods_in(data))}
        records.sort(key=lambda r: order[r["method"]])
        best = {c: _best(records, c) for c in COLUMNS}
        lines += [f"**{labels.rate_label(data['codec'], rate)}**", "", _row(header),
                  _row(["---"] + ["---:"] * len(COLUMNS))]
        for r in records:
            figures = {**r["mean"], **r["set"]}
            cells = []
            for c in COLUMNS:
                text = labels.figure(c, figures.get(c))
                cells.append(f"**{text}**" if best[c] is not None and figures.get(c) == best[c] else text)
            lines.append(_row([r["method"]] + cells))
        for p in data["published"]:
            if p["rate"] == rate:
                cells = [labels.figure(c, p.get(c)) for c in COLUMNS]
                lines.append(_row([f"{p['method']} (published)"] + cells))
        lines.append("")
    lines += bd_rate_lines(data)
    lines += [f"- {name}: {note}" for name, note in notes.items()]
    return "\n".join(lines).rstrip() + "\n"


def bd_rate_lines(data: dict) -> List[str]:
    """Each method's BD-rate against the base decode (PSNR against the bitstreams' bpp), over the
    run's rates, where there are at least four."""
    from dirac.metrics import MetricError, bd_rate

    anchor = curve(data, data["codec"], "bpp", "psnr")
    if len(anchor[0]) < 4:
        return []
    cells = []
    for method in methods_in(data):
        points = curve(data, method, "bpp", "psnr")
        if method == data["codec"] or len(points[0]) < 4:
            continue
        try:
            cells.append(f"{method} {bd_rate(anchor[0], anchor[1], points[0], points[1]):+.1f} %")
        except MetricError as exc:
            cells.append(f"{method} n/a ({exc})")
    rates = ", ".join(labels.rate_label(data["codec"], r) for r in anchor[2])
    return [f"BD-rate against the {data['codec']} decode at equal {labels.metric('psnr', data['protocol'])} "
            f"({rates}; negative is a saving): " + "; ".join(cells), ""] if cells else []


def speed_table(data: dict) -> str:
    """Seconds, FLOPs and memory per setting, with the ratios to DnCNN-3."""
    s, env = data["settings"], data["environment"]
    lines = ["### speed", "",
             f"JPEG QF {s['quality']} decode of {Path(s['image']).name}, median of {s['runs']} runs after a warm-up; "
             f"{env['machine']['cpu_model']}, {env['machine']['cores']} cores, "
             f"{env['machine'].get('torch_threads')} torch threads; {env['timestamp']}, commit {_commit(env)}", "",
             _row(["method", "image", "s / image", "s / MP", "GFLOP / MP", "peak RSS (MiB)", "time × DnCNN-3",
                   "FLOPs × DnCNN-3"]),
             _row(["---"] + ["---:"] * 7)]
    notes = []
    for r in data["rows"]:
        ratio = r.get("vs_dncnn3") or {}
        tool_peak = r.get("peak_rss_tool_bytes")
        peak = tool_peak or r["peak_rss_bytes"]
        if tool_peak:
            notes.append(f"- {r['method']}: peak RSS of the {r['method']} program itself; the Python harness "
                         f"that runs it peaks at {r['peak_rss_bytes'] / 2**20:.0f} MiB")
        variant = [v for v in (r.get("protocol"), r.get("precision")) if v not in (None, "colour", "fp32")]
        lines.append(_row([
            r["method"] + (f" ({', '.join(variant)})" if variant else ""), f"{r['width']}x{r['height']}", labels.number(r["median_s"], 3),
            labels.number(r["seconds_per_megapixel"], 3),
            labels.number(r["flops_per_pixel"] / 1e3 if r["flops_per_pixel"] else None, 1),
            labels.number(peak / 2**20, 0), labels.number(ratio.get("seconds"), 3),
            labels.number(ratio.get("flops"), 3)]))
    lines += [""] + notes + [f"- {name}: {why}" for name, why in data.get("skipped", {}).items()]
    if data.get("training"):
        lines += ["", _row(["training step", "batch", "s / step", "steps / s"]), _row(["---"] + ["---:"] * 3)]
        lines += [_row([t["precision"], f"{t['batch']} x {t['patch']} px", labels.number(t["median_s"], 3),
                        labels.number(t["steps_per_s"], 2)]) for t in data["training"]]
    check = data.get("precision_psnr")
    if check:
        lines += ["", f"bf16 inference on {check['dataset']} {check['protocol']} QF {check['quality']} "
                      f"({check['images']} images): {check['bf16_db']:.3f} dB against fp32's {check['fp32_db']:.3f} dB "
                      f"({check['difference_db']:+.4f} dB; at most {check['max_image_difference_db']:.4f} dB on one image)"]
    return "\n".join(lines).rstrip() + "\n"


def search_table(data: dict, marks=(10, 20, 30, 40)) -> str:
    """The architecture search: cost of each candidate and its held-out gain over wall-clock minutes."""
    s, env = data["settings"], data["environment"]
    lines = ["### JPEG architecture search", "",
             f"Held-out PSNR gain (dB) of the one-call output after equal wall-clock minutes of bf16 training (batch "
             f"{s.get('batch')} of {s.get('patch')} px, lr {s.get('lr')}, seed {s['seed']}); realism-0 seconds on "
             f"{Path(s.get('image', '')).name} (768x512), DnCNN-3 grey {data['dncnn3_grey_s']:.3f} s in the same run; "
             f"{env['machine']['cpu_model']}, {env['timestamp']}, commit {_commit(env)}", "",
             _row(["candidate", "parameters (M)", "MFLOP / px", "grey s (× DnCNN-3)", "colour s", "colour s, bf16"]
                  + [f"gain @ {m} min" for m in marks] + ["final gain"]),
             _row(["---"] + ["---:"] * (5 + len(marks) + 1))]
    for c in data["candidates"]:
        at = [max((p["gain_db"] for p in c["curve"] if p["minutes"] <= m), default=None) for m in marks]
        lines.append(_row([c["name"], labels.number(c["parameters"] / 1e6, 2), labels.number(c["flops_per_pixel"] / 1e6, 3),
                           f"{c['grey_s']:.3f} ({c['grey_vs_dncnn3']:.3f})", labels.number(c["colour_s"], 3),
                           labels.number(c.get("colour_bf16_s"), 3)]
                          + [labels.number(g, 3) for g in at] + [labels.number(c["curve"][-1]["gain_db"] if c["curve"] else None, 3)]))
    lines += [""] + [f"- {c['name']}: {c.get('description', '')}" for c in data["candidates"]]
    return "\n".join(lines) + "\n"


def codec_table(runs: List[Tuple[Path, dict]]) -> str:
    """The base codecs side by side on Kodak: each rate's bpp, decode PSNR and realism-0 PSNR,
    ordered by bpp, so learned and classical codecs compare at matching bpp ('' with fewer than two)."""
    if len(runs) < 2:
        return ""
    rows = []
    for _, data in runs:
        _, enhanced, at = curve(data, labels.setting_name(0), "bpp", "psnr")
        enhanced = dict(zip(at, enhanced))
        for bpp, base, rate in zip(*curve(data, data["codec"], "bpp", "psnr")):
            rows.append((bpp, f"{data['codec']} {labels.rate_label(data['codec'], rate)}", base, enhanced.get(rate)))
    lines = ["### base codecs · Kodak · colour protocol", "",
             "Each codec's decode and dirac at realism 0, from the runs above (bpp of the real bitstreams).", "",
             _row(["codec and rate", "bpp", "decode PSNR (dB)", "dirac realism 0 (dB)"]), _row(["---", "---:", "---:", "---:"])]
    lines += [_row([label, labels.number(bpp, 3), labels.number(base, 2), labels.number(ours, 2)]) for bpp, label, base, ours in sorted(rows)]
    return "\n".join(lines) + "\n"


def render(folder: Path) -> str:
    """All tables for the results in ``folder``."""
    if not Path(folder).is_dir():
        raise DiracError(f"results folder {folder} not found")
    parts = [run_table(data) for _, data in run_files(folder)]
    parts.append(codec_table(kodak_codec_runs(folder)))
    speed = folder / SPEED_FILE
    if speed.is_file():
        parts.append(speed_table(read_json(speed, SPEED_SCHEMA)))
    search = folder / SEARCH_FILE
    if search.is_file():
        parts.append(search_table(read_json(search, SEARCH_SCHEMA)))
    parts = [part for part in parts if part]
    return "\n".join(parts) if parts else "_No results yet: run `python -m benchmarks.run`._\n"


def replace_between_markers(text: str, body: str) -> str:
    """``text`` with everything between the markers replaced by ``body``."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise DiracError(f"the README must contain {BEGIN} ... {END} (in that order)")
    return text[:start + len(BEGIN)] + "\n\n" + body + "\n" + text[end:]


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.tables", description=__doc__.split("\n\n")[0])
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument("--readme", type=Path, default=README)
    p.add_argument("--print", action="store_true", help="print the tables instead of writing the README")
    args = p.parse_args(argv)

    def work():
        body = render(args.results)
        if args.print:
            print(body)
            return
        args.readme.write_text(replace_between_markers(args.readme.read_text(), body))
        yield args.readme

    return run_command(work)


if __name__ == "__main__":
    sys.exit(main())
