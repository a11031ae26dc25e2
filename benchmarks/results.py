"""The results folder and its JSON files: naming, atomic writing, reading back.

Every file carries ``schema`` so plot/tables can refuse what they do not understand.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

from base_codecs import DiracError
from dirac.io import atomic_file

RESULTS = Path(__file__).resolve().parent / "results"
RUN_SCHEMA = "dirac.benchmarks.run/1"
SPEED_SCHEMA = "dirac.benchmarks.speed/1"
SPEED_FILE = "speed.json"
SEARCH_SCHEMA = "dirac.benchmarks.architecture_search/1"
SEARCH_FILE = "architecture-search.json"


NARROWED = ("-quick", "-partial")  # file-name endings of runs that never replace real figures


def run_filename(codec: str, dataset: str, protocol: str, quick: bool = False, tag: str = "", partial: bool = False) -> str:
    """``jpeg-live1-grey.json``; a tag names a second run of the same set (``-dial``); smoke
    runs get ``-quick`` and runs on part of a set (fewer images, crops) ``-partial``, so
    neither replaces real figures nor reaches the tables."""
    ending = NARROWED[0] if quick else NARROWED[1] if partial else ""
    return f"{codec}-{dataset}-{protocol}{'-' + tag if tag else ''}{ending}.json"


def _json_safe(value):
    """inf/nan (e.g. PSNR of identical images) become null: JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_json(path: Path, data: dict) -> Path:
    """Write atomically (a crash mid-write never leaves half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, "results") as tmp:
        tmp.write_text(json.dumps(_json_safe(data), indent=1, allow_nan=False) + "\n")
    return path


_ENVIRONMENT = {"timestamp": None, "machine": {"cpu_model": None, "cores": None}}
# What plot and tables read from each kind of file: a key's value is None (anything), a dict of
# the keys it must hold, or a list of one such dict (every item must hold them).
FIELDS = {
    RUN_SCHEMA: {"codec": None, "dataset": None, "protocol": None, "settings": {"images": None},
                 "environment": _ENVIRONMENT, "skipped": {}, "published": [{"method": None, "rate": None, "psnr": None}],
                 "records": [{"method": None, "rate": None, "mean": {}, "set": {}}]},
    SEARCH_SCHEMA: {"settings": {"seed": None}, "environment": _ENVIRONMENT, "dncnn3_grey_s": None,
                    "candidates": [{"name": None, "curve": [{"minutes": None, "gain_db": None}], "flops_per_pixel": None,
                                    "parameters": None, "grey_s": None, "colour_s": None, "grey_vs_dncnn3": None}]},
    SPEED_SCHEMA: {"settings": {"image": None, "quality": None, "runs": None}, "environment": _ENVIRONMENT,
                   "rows": [{"method": None, "width": None, "height": None, "median_s": None,
                             "seconds_per_megapixel": None, "flops_per_pixel": None, "peak_rss_bytes": None}]},
}


def _flaw(value, fields, where: str = "") -> Optional[str]:
    """The first field ``value`` lacks (``missing records[0].mean``) or holds in the wrong form; None if none."""
    if fields is None:
        return None
    if isinstance(fields, list):
        if not isinstance(value, list):
            return f"{where} is not a list"
        return next(filter(None, (_flaw(item, fields[0], f"{where}[{i}]") for i, item in enumerate(value))), None)
    if not isinstance(value, dict):
        return f"{where or 'the file'} is not a JSON object"
    for key, inner in fields.items():
        place = f"{where}.{key}" if where else key
        flaw = f"missing {place}" if key not in value else _flaw(value[key], inner, place)
        if flaw:
            return flaw
    return None


def _checked(path: Path, data, schema: str) -> dict:
    """``data`` if it is a ``schema`` file holding every field that schema's readers use."""
    if isinstance(data, dict) and data.get("schema") != schema:
        raise DiracError(f"{path} is not a {schema} file (schema {data.get('schema')!r})")
    flaw = _flaw(data, FIELDS.get(schema, {}))
    if flaw:
        raise DiracError(f"{path}: not a valid benchmark results file ({flaw})")
    return data


def read_json(path: Path, schema: Optional[str] = None):
    """A results file, checked to be a complete ``schema`` file when given."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DiracError(f"cannot read results {path}: {exc}") from None
    return data if schema is None else _checked(path, data, schema)


def run_files(folder: Path, include_quick: bool = False) -> Iterator[Tuple[Path, dict]]:
    """Every benchmark-run JSON in ``folder`` (sorted), without smoke or partial runs unless asked.
    The folder holds other JSON too (speed, video): a file is a run's only if it is an object whose
    ``schema`` is the run schema, and such a file must then be complete."""
    for path in sorted(Path(folder).glob("*.json")):
        if path.name in (SPEED_FILE, SEARCH_FILE) or (path.stem.endswith(NARROWED) and not include_quick):
            continue
        data = read_json(path)
        if isinstance(data, dict) and data.get("schema") == RUN_SCHEMA:
            yield path, _checked(path, data, RUN_SCHEMA)


def kodak_codec_runs(folder: Path) -> List[Tuple[Path, dict]]:
    """The untagged, uncropped colour runs of every base codec on Kodak (``kodak``, or its
    pre-coded ``vvc-kodak``), the first file per codec: what places the codecs side by side at matching bpp."""
    runs = {}
    for path, data in run_files(folder):
        settings = data["settings"]
        if data["dataset"].endswith("kodak") and data["protocol"] == "colour" and not settings.get("tag") and not settings.get("crop"):
            runs.setdefault(data["codec"], (path, data))
    return [runs[codec] for codec in sorted(runs)]


def methods_in(data: dict) -> List[str]:
    """Method names in the order they were run."""
    seen: List[str] = []
    for record in data["records"]:
        if record["method"] not in seen:
            seen.append(record["method"])
    return seen


def curve(data: dict, method: str, x: str, y: str) -> Tuple[List[float], List[float], List[int]]:
    """(xs, ys, rates) of one method over rates, skipping rates where either figure is null."""
    points = []
    for record in data["records"]:
        if record["method"] != method:
            continue
        figures = {**record["mean"], **record["set"]}
        if figures.get(x) is not None and figures.get(y) is not None:
            points.append((figures[x], figures[y], record["rate"]))
    points.sort(key=lambda p: p[2])
    return [p[0] for p in points], [p[1] for p in points], [p[2] for p in points]
