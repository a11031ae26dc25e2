"""The ``dirac`` command: enhance, info, train, batch, view. Exit codes: 0 ok, 2 bad input or usage, 1 internal error, 130 interrupted."""
from __future__ import annotations

import argparse
import contextlib
import errno
import glob
import io
import json
import os
import signal
import stat
import sys
import tempfile
import threading
import warnings
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

import base_codecs
from base_codecs import DiracError, images

from .data import resolved, unique_files

OUTPUT_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
MAX_SIDE = {"JPEG": 65500, "WEBP": 16383}  # what each output format can store


MAX_INPUT_BYTES = 1 << 30  # a still picture is read whole; the largest one allowed (89 MP) codes far below this
MAX_THREADS = 1024


# control characters in a file name, written out so an error stays on one line
CONTROL_CHARACTERS = {**{c: f"\\x{c:02x}" for c in [*range(32), 127]}, 9: "\\t", 10: "\\n", 13: "\\r"}


def one_line(text: str) -> str:
    return text.translate(CONTROL_CHARACTERS)


OS_REASONS = {errno.ELOOP: "too many levels of symbolic links", errno.ENAMETOOLONG: "file name too long"}


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


def about(src: Path, exc: DiracError) -> str:
    """The error message, led by the file it concerns, on one line."""
    return one_line(str(exc) if str(exc).startswith(str(src)) else f"{src}: {exc}")


def check_output(path: Path, inputs: List[Path], shape: Tuple[int, ...]) -> str:
    """The output format of ``path`` once the write is known to be possible: checked before
    the enhancement runs, so a bad output path costs nothing."""
    fmt = OUTPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DiracError(f"{path}: unsupported output extension; use one of {', '.join(OUTPUT_FORMATS)}")
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
    if max(shape[:2]) > MAX_SIDE.get(fmt, max(shape[:2])):
        raise DiracError(f"{path}: {fmt} stores at most {MAX_SIDE[fmt]} pixels a side, the image is {shape[1]}x{shape[0]}")
    return fmt


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


def write_image_atomic(pixels: np.ndarray, path: Path, fmt: str) -> None:
    """Write via a temp file + rename: never a partial output."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".dirac-", suffix=path.suffix, dir=path.parent)
    except OSError as exc:
        raise DiracError(f"{path}: cannot write output ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
            Image.fromarray(pixels).save(f, format=fmt, **options)
        os.chmod(tmp, 0o666 & ~process_umask())  # mkstemp makes 0600; an output is an ordinary file
        os.replace(tmp, path)
    except BaseException as exc:
        os.unlink(tmp)
        if isinstance(exc, OSError):  # disk full, quota, permissions changed under us
            raise DiracError(f"{path}: cannot write output ({exc.strerror or exc})") from None
        raise


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


def output_path(text: str, what: str) -> Path:
    """The path ``-o`` names; an empty one would silently mean the current directory."""
    if not text.strip():
        raise DiracError(f"-o is empty; name {what}")
    return Path(text)


def check_unique_stems(inputs: List[Path]) -> None:
    """Outputs in a directory are named after input stems, so two inputs must not share one."""
    seen = {}
    for path in inputs:
        if path.stem in seen:
            raise DiracError(f"{path} and {seen[path.stem]} would both write {path.stem}*.png; rename one")
        seen[path.stem] = path


def output_for(src: Path, output: Path, into_dir: bool) -> Path:
    return output / (src.stem + ".png") if into_dir else output


class EnhancerCache:
    """One loaded enhancer per codec family, so a mixed batch loads each model once."""

    def __init__(self, weights: Optional[str], device: str):
        self.weights, self.device, self.loaded = weights, device, {}

    def get(self, family: str):
        from .enhancer import Enhancer

        if family not in self.loaded:  # refuses weights for another codec
            self.loaded[family] = Enhancer.from_pretrained(self.weights, device=self.device, codec=family)
        return self.loaded[family]


def base_decode(data: bytes, args) -> Tuple[str, base_codecs.Decoded]:
    """(family, picture to enhance): a codec bitstream, or an ordinary image file (PNG, TIFF, ...)
    taken as an already decoded picture once --rate says how it was coded."""
    decoded = base_codecs.decode_input(data, args.codec, args.rate)
    return decoded.rate.family, decoded


def decode_with_rate(src: Path, args, video: bool = False) -> Tuple[str, base_codecs.Decoded, float]:
    """(family, base decode, rate): ``--rate`` if given, else the rate the file carries."""
    family, decoded = base_decode(read_input(src, video), args)
    rate = args.rate if args.rate is not None else decoded.rate.value
    if rate is None:
        raise DiracError("the file does not say its rate; pass --rate")
    return family, decoded, rate


def enhance_file(src: Path, dst: Path, args, cache: EnhancerCache, inputs: List[Path]) -> str:
    from .sampler import calls_for

    family, decoded, rate = decode_with_rate(src, args)
    fmt = check_output(dst, inputs, decoded.image.shape)
    out = cache.get(family).enhance(decoded.image, rate, progress=len(inputs) == 1, **dial_options(args))
    write_image_atomic(out, dst, fmt)
    calls = calls_for(args.realism, args.steps)  # says so when a small realism x steps rounds to one call
    return f"{src} -> {dst}: {family} rate {rate:g}, realism {args.realism:g} ({calls} of {args.steps} network calls)"


def dial_options(args) -> dict:
    """The ``Enhancer.enhance`` keywords that ``enhance`` and ``batch`` take from the command line."""
    tile = {} if args.tile is None else {"tile": args.tile}  # none given: the enhancer's default
    return dict(realism=args.realism, steps=args.steps, seed=args.seed, eta=args.eta, detail_sigma=args.detail_sigma,
                precision=args.precision, **tile)


def check_dial(args) -> None:
    """Bad dial, noise or tile settings fail once, as bad usage, before any decoding."""
    from .sampler import check_eta, check_seed, check_steps
    from .scheduler import check_detail_sigma
    from .tiling import DEFAULT_OVERLAP, DEFAULT_TILE, check_tiling

    check_steps(args.realism, args.steps)
    check_eta(args.eta)
    if args.detail_sigma is not None:
        check_detail_sigma(args.detail_sigma)
    check_seed(args.seed)
    check_tiling(DEFAULT_TILE if args.tile is None else args.tile, DEFAULT_OVERLAP)


def add_source_arguments(p: argparse.ArgumentParser) -> None:
    """What every command that enhances asks of its input: its codec family and rate."""
    p.add_argument("--codec", default="auto", choices=["auto", "jpeg", "hevc", "vvc", "neural"], help="the codec family of a coded file (auto: as read); for an already decoded image (PNG, TIFF ...) the family it was coded with (auto: jpeg)")
    p.add_argument("--rate", type=float, default=None, help="the rate (JPEG quality, QP, neural quality index): overrides the one read from a coded file; required for an already decoded image")


def add_enhance_arguments(p: argparse.ArgumentParser, seed_help: str, seed_default: Optional[int]) -> None:
    """What ``enhance`` and ``batch`` share: the input's codec and rate, the dial and the weights."""
    add_source_arguments(p)
    p.add_argument("--realism", type=float, default=0.0, help="0 = highest PSNR (one call) ... 1 = full trajectory, synthesised texture")
    p.add_argument("--steps", type=int, default=20, help="schedule length N, at most 500; realism*N calls run")
    p.add_argument("--seed", type=int, default=seed_default, help=seed_help)
    p.add_argument("--eta", type=float, default=0.0, help="fresh noise per step: 0 = DDIM (default) .. 1 = DDPM")
    p.add_argument("--detail-sigma", type=float, default=None, help="above realism 0, the steps add their detail finer than this many pixels (0.5 .. 64) to the realism-0 output (default: the weights' setting, 1; 0 = the steps' whole output)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto", help="the network's arithmetic: fp32, bf16 autocast, or auto (default): bf16 where the CPU (AVX-512 BF16, AMX) or GPU runs it natively, else fp32 (benchmarks/README.md: what it costs)")
    p.add_argument("--weights", default=None, help="weights directory (default: $DIRAC_WEIGHTS/<codec>, else those shipped in the package, dirac/weights/<codec>)")
    p.add_argument("--tile", type=int, default=None, help="tile size in pixels, a multiple of 16 above the 32-pixel overlap (default: the enhancer's, 768); bounds memory")


def cmd_enhance(args) -> None:
    import torch

    if args.threads is not None:
        if not 1 <= args.threads <= MAX_THREADS:
            raise DiracError(f"--threads must be in 1..{MAX_THREADS}, got {args.threads}")
        torch.set_num_threads(args.threads)
    from .arguments import check_device

    check_device(args.device, "--device")
    check_dial(args)
    inputs = expand_inputs(args.inputs)
    output = output_path(args.output, "an output file or an existing directory")
    found = status(output, output=True)
    is_dir = found is not None and stat.S_ISDIR(found.st_mode)
    into_dir = len(inputs) > 1 or is_dir or args.output.endswith(os.sep)
    if into_dir and not is_dir:
        raise DiracError(f"{output}: {'with several inputs, ' if len(inputs) > 1 else ''}-o must be an existing directory")
    if into_dir:
        check_unique_stems(inputs)
    cache = EnhancerCache(args.weights, args.device)
    failures = []
    for src in tqdm(inputs, desc="files", unit="file", disable=len(inputs) < 2):
        try:
            message = enhance_file(src, output_for(src, output, into_dir), args, cache, inputs)
        except DiracError as exc:
            message = about(src, exc)
            if len(inputs) == 1:
                raise DiracError(message) from None
            failures.append(src)
            tqdm.write(f"dirac: error: {message}", file=sys.stderr)
            continue
        tqdm.write(message)
    if failures:
        raise DiracError(f"{len(failures)} of {len(inputs)} files failed")


def cmd_info(args) -> None:
    src = Path(args.input)
    try:
        print(describe(src, read_input(src)))
    except DiracError as exc:
        raise DiracError(about(src, exc)) from None


def describe(src: Path, data: bytes) -> str:
    """``dirac info``'s line: format or codec family, size, colour, rate."""
    image_format = images.sniff(data)
    if image_format is not None:
        pixels, what, detail = images.decode(data), image_format, "already decoded (enhance it with --rate)"
    else:
        what = base_codecs.sniff(data)
        decoded = base_codecs.get_codec(what).decode(data)
        rate = "unknown" if decoded.rate.value is None else f"{decoded.rate.value:g}"
        bpp = "unknown" if decoded.rate.bpp is None else f"{decoded.rate.bpp:.3f}"
        pixels, detail = decoded.image, f"rate {rate}, {bpp} bpp"
    h, w = pixels.shape[:2]
    kind = "grey" if pixels.ndim == 2 else "RGB"
    return f"{src}: {what} {w}x{h} {kind}, {detail}"


def _json_object(text: str) -> dict:
    """A JSON object given on the command line."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object such as '{{\"fine_channels\": 48}}', got {text!r}")
    return value


def cmd_train(args) -> None:
    from .train import Trainer
    from .train_config import continued_config

    cfg = continued_config(
        args.out, codec=args.codec, data=args.data, sources=args.sources, steps=args.steps, batch=args.batch, patch=args.patch,
        lr=args.lr, min_lr=args.min_lr, max_minutes=args.max_minutes, checkpoint_minutes=args.checkpoint_minutes, seed=args.seed,
        regression_fraction=args.regression_fraction, perceptual_weight=args.perceptual_weight, init_from=args.init_from,
        precision=args.precision, model=args.model,
    )
    print(f"training {cfg.codec} into {cfg.out}: {cfg.steps} steps, batch {cfg.batch} of {cfg.patch}px, "
          f"lr {cfg.lr:g} -> {cfg.min_lr:g}, regression fraction {cfg.regression_fraction:g}, perceptual weight "
          f"{cfg.perceptual_weight:g}, {cfg.precision} precision, seed {cfg.seed}")
    best = Trainer(cfg).run()
    print(f"best validation PSNR gain {best:.3f} dB; weights in {cfg.out}")


class TolerantStream(io.TextIOBase):
    """stdout or stderr as the CLI uses them: a name that is not valid in the stream's encoding
    is written with escapes, and a reader that goes away (``| head``) silences the stream
    instead of stopping the work."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            try:
                self.stream.write(text)
            except UnicodeEncodeError:
                self.stream.write(text.encode(self.encoding, "backslashreplace").decode(self.encoding))
        except BrokenPipeError:
            self._silence()
        self.flush()
        return len(text)

    def flush(self) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError:
            self._silence()

    def _silence(self) -> None:
        """Point the stream's file at /dev/null: later writes, and the flush at exit, go nowhere."""
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self.stream.fileno())
        os.close(devnull)

    def isatty(self) -> bool:
        return self.stream.isatty()

    @property
    def encoding(self) -> str:  # progress bars choose their characters by it
        return getattr(self.stream, "encoding", None) or "utf-8"

    def fileno(self) -> int:
        return self.stream.fileno()


class OneLineErrorParser(argparse.ArgumentParser):
    """Usage errors as one line (like every other dirac error), pointing at --help."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog="dirac", description="Residual diffusion enhancement of decoded images.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("enhance", help="enhance JPEG (or other base-codec) files")
    p.add_argument("inputs", nargs="+", help="files, directories or glob patterns")
    p.add_argument("-o", "--output", required=True, help="output image (.png, .jpg, .webp), or a directory for several inputs")
    add_enhance_arguments(p, "make stochastic (realism > 0) output reproducible", seed_default=None)
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    p.set_defaults(func=cmd_enhance)

    p = sub.add_parser("info", help="print a file's codec family, size and rate")
    p.add_argument("input")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser(
        "train", help="train (or resume training) an enhancer",
        description="Train an enhancer into --out, resuming its checkpoint or warm-starting from its weights. "
        "Options not given (but --data and --max-minutes) keep the values a run continued in --out saved (train_config.json), "
        "else the defaults shown.",
    )
    from .train_config import TrainConfig

    p.add_argument("--codec", default=None, help=f"base codec (default {TrainConfig.codec})")
    p.add_argument("--data", nargs="+", required=True, help="directories of lossless training images (or of coded bitstreams with manifest.json, with --sources)")
    p.add_argument("--sources", nargs="+", default=None, help="with pre-coded --data (VVC): directories holding the original images")
    p.add_argument("--out", required=True, help="weights directory; resumes from its checkpoint, or warm-starts from its weights, if present")
    p.add_argument("--steps", type=int, default=None, help=f"total steps, counting those already trained (default {TrainConfig.steps})")
    p.add_argument("--batch", type=int, default=None, help=f"patches per step (default {TrainConfig.batch})")
    p.add_argument("--patch", type=int, default=None, help=f"patch size in pixels, a multiple of 16 (default {TrainConfig.patch})")
    p.add_argument("--lr", type=float, default=None, help=f"peak learning rate (default {TrainConfig.lr:g})")
    p.add_argument("--min-lr", type=float, default=None, help=f"learning rate the cosine decay ends at (default {TrainConfig.min_lr:g})")
    p.add_argument("--max-minutes", type=float, default=None, help="stop (with a checkpoint) after this long")
    p.add_argument("--checkpoint-minutes", type=float, default=None, help=f"minutes between checkpoints (default {TrainConfig.checkpoint_minutes:g})")
    p.add_argument("--seed", type=int, default=None, help=f"data and noise seed (default {TrainConfig.seed})")
    p.add_argument("--regression-fraction", type=float, default=None,
                   help=f"share of one-call (realism 0) examples per batch (default {TrainConfig.regression_fraction:g})")
    p.add_argument("--perceptual-weight", type=float, default=None,
                   help=f"rho: weight of LPIPS on the diffusion examples' predicted image (default {TrainConfig.perceptual_weight:g})")
    p.add_argument("--init-from", default=None,
                   help="a new run grows its model from these weights (their tensors loaded, new parts starting at zero)")
    p.add_argument("--model", type=_json_object, default=None,
                   help='options of a new model as JSON, e.g. \'{"fine_channels": 48}\' (see dirac.model.ResidualDenoiser)')
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default=None,
                   help=f"bf16 autocast with fp32 master weights, fp32, or auto: bf16 where the CPU or GPU runs it natively (default {TrainConfig.precision})")
    p.set_defaults(func=cmd_train)

    from .batch import add_batch_parser
    from .viewer import add_view_parser

    add_batch_parser(sub)
    add_view_parser(sub)
    return parser


class Terminated(BaseException):
    """SIGTERM, raised where the process is, so it unwinds as Ctrl-C does: a write in progress
    removes its temp file."""


def _raise_terminated(signum, frame):
    raise Terminated()


@contextlib.contextmanager
def terminate_by_unwinding():
    """SIGTERM unwinds the command while it runs (only the main thread may set handlers)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Optional[List[str]] = None) -> int:
    with contextlib.ExitStack() as stack:
        stack.enter_context(terminate_by_unwinding())
        for stream, redirect in ((sys.stdout, contextlib.redirect_stdout), (sys.stderr, contextlib.redirect_stderr)):
            if stream is None:  # started with it closed (>&-): progress bars and messages go nowhere
                stream = stack.enter_context(open(os.devnull, "w"))
            stack.enter_context(redirect(TolerantStream(stream)))
        return run(argv)


def run(argv: Optional[List[str]]) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage error (2) or the help (0)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        with warnings.catch_warnings():  # Pillow's notes on odd files: the one-line error (or none) says it
            warnings.filterwarnings("ignore", category=UserWarning, module="PIL")
            warnings.filterwarnings("ignore", category=FutureWarning)  # libraries' API notices are for developers
            args.func(args)
    except DiracError as exc:
        print(f"dirac: error: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dirac: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("dirac: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except MemoryError:
        print("dirac: error: not enough memory for this job", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug, not bad input: say so, keep the traceback for DIRAC_DEBUG
        if os.environ.get("DIRAC_DEBUG"):
            raise
        print(f"dirac: internal error: {type(exc).__name__}: {exc} (set DIRAC_DEBUG=1 for a traceback)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
