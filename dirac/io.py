"""Files in and out, checked once at the boundary: reading inputs (regular files only, size
capped), expanding files, folders and globs, choosing and checking output paths, and the one
atomic write (temp file, then rename) for every file a reader must never see half-written."""
from __future__ import annotations

import contextlib
import errno
import glob
import os
import stat
import tempfile
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from base_codecs import DiracError

OUTPUT_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
MAX_SIDE = {"JPEG": 65500, "WEBP": 16383}  # what each output format can store
MAX_INPUT_BYTES = 1 << 30  # a still picture is read whole; the largest one allowed (89 MP) codes far below this

# control characters in a file name, written out so an error stays on one line
CONTROL_CHARACTERS = {**{c: f"\\x{c:02x}" for c in [*range(32), 127]}, 9: "\\t", 10: "\\n", 13: "\\r"}
OS_REASONS = {errno.ELOOP: "too many levels of symbolic links", errno.ENAMETOOLONG: "file name too long"}


def one_line(text: str) -> str:
    return text.translate(CONTROL_CHARACTERS)


def about(src: Path, exc: DiracError) -> DiracError:
    """``exc`` led by the file it concerns, on one line."""
    message = exc.message if exc.message.startswith(str(src)) else f"{src}: {exc.message}"
    return DiracError(one_line(message), option=exc.option)


def status(path: Path, output: bool = False) -> Optional[os.stat_result]:
    """``path``'s stat, None where nothing is there (a dangling link included), a DiracError
    naming what else stops a look at it (a link loop, an over-long name, no permission)."""
    try:
        return path.stat()
    except (FileNotFoundError, NotADirectoryError):  # a file where a folder should be: nothing there either
        return None
    except OSError as exc:
        reason = OS_REASONS.get(exc.errno, exc.strerror or str(exc))
        raise DiracError(f"{path}: cannot {'write output' if output else 'read'} ({reason})") from None


def check_regular(path: Path) -> os.stat_result:
    """``path``'s stat, once it is known to be a regular file: a FIFO or device would block reads."""
    found = status(path)
    if found is None:
        raise DiracError(f"{path}: no such file")
    if not stat.S_ISREG(found.st_mode):
        raise DiracError(f"{path}: not a regular file")
    return found


def read_input(path: Path, video: bool = False) -> bytes:
    """The bytes of ``path``, a regular file, at most MAX_INPUT_BYTES unless it is a ``video``."""
    size = check_regular(path).st_size
    if not video and size > MAX_INPUT_BYTES:
        raise DiracError(f"{path}: {size:,} bytes is too large: a picture file is read whole, up to {MAX_INPUT_BYTES:,} bytes")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DiracError(f"{path}: cannot read ({exc.strerror or exc})") from None


def resolved(path: Path) -> Path:
    """``path`` with every link followed; a link loop stays as it is (reading it reports it)."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path


def unique_files(paths: Sequence[Path]) -> List[Path]:
    """``paths`` in order without repeats of one file, however its folder is spelled (relative,
    absolute, through linked folders; the first spelling kept); differently named links stay
    apart, as they name different outputs."""
    unique: Dict[Path, Path] = {}
    for path in paths:
        unique.setdefault(resolved(path.parent) / path.name, path)
    return list(unique.values())


def expand_inputs(specs: List[str]) -> List[Path]:
    """Files, directories (their files, sorted) and glob patterns, in order, without repeats."""
    paths: List[Path] = []
    for spec in specs:  # (repeats, however spelled, are dropped below)
        if not spec.strip():  # Path("") is the current directory
            raise DiracError("an input path is empty")
        found = status(Path(spec))
        if found is not None and stat.S_ISDIR(found.st_mode):
            try:
                listed = sorted(p for p in Path(spec).iterdir() if p.is_file() and not p.name.startswith("."))
            except OSError as exc:  # no permission to list it
                raise DiracError(f"{spec}: cannot list this directory ({exc.strerror or exc})") from None
            if not listed:
                raise DiracError(f"{spec}: directory holds no files")
            paths += listed
        elif found is None and any(ch in spec for ch in "*?["):  # an existing name is literal
            matches = sorted(Path(p) for p in glob.glob(spec) if Path(p).is_file())
            if not matches:
                raise DiracError(f"{spec}: no files match")
            paths += matches
        else:
            if found is not None and not stat.S_ISREG(found.st_mode):  # a FIFO would block whoever opens it
                raise DiracError(f"{spec}: not a regular file")
            paths.append(Path(spec))
    return unique_files(paths)


def check_unique_stems(inputs: List[Path]) -> None:
    """Outputs in a directory are named after input stems, so two inputs must not share one."""
    seen = {}
    for path in inputs:
        if path.stem in seen:
            raise DiracError(f"{path} and {seen[path.stem]} would both write {path.stem}*.png; rename one")
        seen[path.stem] = path


def check_output(path: Path, inputs: List[Path], shape: Tuple[int, ...]) -> str:
    """The image format of ``path`` once the write is known to be possible: checked before
    the enhancement runs, so a bad output path costs nothing."""
    fmt = OUTPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DiracError(f"{path}: unsupported output extension; use one of {', '.join(OUTPUT_FORMATS)}")
    check_writable(path, inputs)
    if max(shape[:2]) > MAX_SIDE.get(fmt, max(shape[:2])):
        raise DiracError(f"{path}: {fmt} stores at most {MAX_SIDE[fmt]} pixels a side, the image is {shape[1]}x{shape[0]}")
    return fmt


def check_writable(path: Path, inputs: List[Path]) -> None:
    """``path`` can be written: its folder exists, it is no folder and none of ``inputs``."""
    try:
        output = path.resolve()
    except (OSError, RuntimeError):  # a symbolic-link loop
        raise DiracError(f"{path}: cannot write output (too many levels of symbolic links)") from None
    if any(output == resolved(p) for p in inputs):
        raise DiracError(f"{path}: refusing to overwrite an input file")
    parent = status(path.parent, output=True)
    if parent is None or not stat.S_ISDIR(parent.st_mode):
        problem = "is not a directory" if parent is not None else "does not exist"
        raise DiracError(f"{path}: output directory {path.parent} {problem}")
    existing = status(path, output=True)
    if existing is not None and stat.S_ISDIR(existing.st_mode):
        raise DiracError(f"{path}: is a directory, not an output file")


def process_umask() -> int:
    """This process's umask, read without setting it (os.umask would change it, if briefly, for
    every thread of a host program); the set-and-restore fallback only where /proc lacks it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_file(path: Path, what: str = "output") -> Iterator[Path]:
    """A temp file beside ``path`` for the block to write, renamed over ``path`` when the block
    succeeds and removed when it fails or is interrupted (Ctrl-C, SIGTERM unwinding): a reader
    never sees a partial file. The file gets an ordinary file's mode (the umask's). A failure
    of the file system (disk full, permissions) is a DiracError naming ``path`` and ``what`` it is."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".dirac-", suffix=path.suffix, dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise DiracError(f"{path}: cannot write {what} ({exc.strerror or exc})") from None
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~process_umask())  # mkstemp makes 0600
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise DiracError(f"{path}: cannot write {what} ({exc.strerror or exc})") from None
        raise


def write_image(pixels: np.ndarray, path: Path, fmt: str) -> None:
    """``pixels`` as an image file in ``fmt`` (lossy formats at quality 95), written atomically."""
    options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    with atomic_file(path) as tmp, open(tmp, "wb") as f:
        Image.fromarray(pixels).save(f, format=fmt, **options)
