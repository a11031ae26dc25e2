"""The exit convention shared by the benchmark commands: print each file written, turn an
expected failure (DiracError, a missing file) into a one-line message and exit status 2."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Iterable, Union


def run_command(work: Callable[[], Iterable[Union[Path, str]]]) -> int:
    """Run ``work`` (which yields the paths it writes) and return the process exit status."""
    from base_codecs import DiracError

    try:
        for written in work():
            print(f"wrote {written}", flush=True)
    except DiracError as exc:  # the argument that fixes it, worded as these commands' flag
        print(f"error: {exc.worded({exc.option: '--' + exc.option.replace('_', '-')} if exc.option else {})}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
