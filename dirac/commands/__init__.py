"""The ``dirac`` subcommands, one module each (as diffusers' ``commands/``): a module has
``HELP``, ``add_arguments(parser)`` and ``run(args)`` and is listed in :data:`COMMANDS`. Heavy
imports wait inside ``run``, so ``dirac --help`` and ``dirac info`` stay quick."""
from __future__ import annotations

import argparse
from importlib import import_module

COMMANDS = ("enhance", "info", "train", "train_codec", "batch", "view")


class OneLineErrorParser(argparse.ArgumentParser):
    """Usage errors as one line (like every other dirac error), pointing at --help."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def flags_of(parser: argparse.ArgumentParser) -> dict:
    """Each option's flag by its name, so an error about ``rate`` can say ``--rate``."""
    return {action.dest: action.option_strings[-1] for action in parser._actions if action.option_strings}


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog="dirac", description="Residual diffusion enhancement of decoded images.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        module = import_module(f".{name}", __name__)
        p = sub.add_parser(name.replace("_", "-"), help=module.HELP, description=getattr(module, "DESCRIPTION", None))
        module.add_arguments(p)
        p.set_defaults(func=module.run, flags=flags_of(p))
    return parser
