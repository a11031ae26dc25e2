"""The ``dirac`` command's entry point: parses (:mod:`dirac.commands`), runs, and turns what
happened into an exit code. 0 ok, 2 bad input or usage, 1 internal error, 130 interrupted,
143 terminated."""
from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import threading
import warnings
from typing import List, Optional

from base_codecs import DiracError

from .commands import build_parser
from .io import one_line


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
    except DiracError as exc:  # worded with this command's flags
        print(f"dirac: error: {one_line(exc.worded(args.flags))}", file=sys.stderr)
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
