"""The bad-input corpus (tests/bad_inputs.py) through ``dirac``'s entry point: every bad case
exits 2 with a message naming the file and the problem, writes nothing and leaves its input as
it was; every unusual but valid input is enhanced."""
import hashlib
import os
import warnings
from pathlib import Path
from typing import Dict

import av
import numpy as np
import pytest
from PIL import Image

from bad_inputs import CASES, ODDITIES, Workspace
from dirac.cli import main

UNAVAILABLE = {
    "hevc": "libx265" not in av.codecs_available and "this PyAV build has no libx265",
    "vvc": "vvc" not in av.codecs_available and "this PyAV build has no VVC decoder",
    "non-root": hasattr(os, "geteuid") and os.geteuid() == 0 and "root writes to read-only folders",
}


def snapshot(root: Path) -> Dict[str, str]:
    """Every entry under ``root``: a file's sha256, else what it is (a FIFO is never opened)."""
    entries = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            entries[str(path)] = f"link to {os.readlink(path)}"
        elif path.is_file():
            entries[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            entries[str(path)] = "directory" if path.is_dir() else "other"
    return entries


@pytest.fixture
def workspace(tmp_path, tiny_weights, textured_rgb, monkeypatch):
    return Workspace(tmp_path, tiny_weights, textured_rgb, monkeypatch)


def _build(case, workspace):
    if case.needs and UNAVAILABLE[case.needs]:
        pytest.skip(UNAVAILABLE[case.needs])
    return case.setup(workspace)


def _enhance_argv(case, workspace):
    argv = [getattr(case, "command", "enhance"), *_build(case, workspace)]
    return argv if "--weights" in argv else argv + ["--weights", str(workspace.weights)]


def test_corpus_has_at_least_40_cases():
    assert len(CASES) >= 40 and len({case.name for case in CASES + ODDITIES}) == len(CASES) + len(ODDITIES)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_bad_input_exits_2_and_changes_nothing(case, workspace, capsys):
    argv = _enhance_argv(case, workspace)
    before = snapshot(workspace.root)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(argv) == case.exit
    err = capsys.readouterr().err
    assert case.message in err and err.count("\n") == 1, err  # one line, whatever the file is called
    assert not case.names or workspace.culprit in err, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert not [str(w.message) for w in caught if "PIL" in w.filename]  # the error says it all, no warning first
    assert snapshot(workspace.root) == before  # no output, no temp file, every input as it was


@pytest.mark.parametrize("case", [case for case in CASES if case.info], ids=lambda case: case.name)
def test_info_refuses_damaged_files(case, workspace, capsys):
    path = _build(case, workspace)[0]
    before = snapshot(workspace.root)
    assert main(["info", path]) == 2
    err = capsys.readouterr().err
    assert case.message in err and path in err and "Traceback" not in err, err
    assert snapshot(workspace.root) == before


@pytest.mark.parametrize("case", ODDITIES, ids=lambda case: case.name)
def test_unusual_inputs_are_enhanced(case, workspace, capsys):
    argv = _enhance_argv(case, workspace)
    before = snapshot(workspace.root)
    assert main(argv) == 0, capsys.readouterr().err
    out = np.asarray(Image.open(workspace.out))
    assert out.shape == case.shape and out.dtype == np.uint8
    assert snapshot(workspace.root).items() - before.items() == {(workspace.out, snapshot(workspace.root)[workspace.out])}
