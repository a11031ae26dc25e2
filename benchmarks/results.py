"""The results folder and its JSON files: naming, atomic writing, reading back.

Every file carries ``schema`` so plot/tables can refuse what they do not understand.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

from base_codecs import DiracError

RESULTS = Path(__file__).resolve().parent / "results"
RUN_SCHEMA = "dirac.benchmarks.run/1"
SPEED_SCHEMA = "dirac.benchmarks.speed/1"
SPEED_FILE = "speed.json"


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
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(_json_safe(data), indent=1, allow_nan=False) + "\n")
    os.replace(tmp, path)
    return path


def read_json(path: Path, schema: Optional[str] = None) -> dict:
    """A results file, checked to be of ``schema`` when given."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DiracError(f"cannot read results {path}: {exc}") from None
    if schema and data.get("schema") != schema:
        raise DiracError(f"{path} is not a {schema} file (schema {data.get('schema')!r})")
    return data


def run_files(folder: Path, include_quick: bool = False) -> Iterator[Tuple[Path, dict]]:
    """Every benchmark-run JSON in ``folder`` (sorted), without smoke or partial runs unless asked."""
    for path in sorted(Path(folder).glob("*.json")):
        if path.name == SPEED_FILE or (path.stem.endswith(NARROWED) and not include_quick):
            continue
        data = read_json(path)
        if data.get("schema") == RUN_SCHEMA:
            yield path, data


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
