"""The `perflab` command line: parse, call, report.

Subcommands come from a table. Only the chosen command's module is imported,
and that module imports anything heavy inside its `main`, so `perflab search`
pays for argparse and its own code, nothing else (start-up time is measured).

A command module provides `configure(parser)` and `main(args) -> int`.
Every `PerflabError` becomes one `error: ...` line on stderr and exit status 2;
a closed pipe (`perflab ... | head`) ends quietly.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from perflab import __version__

__all__ = ["COMMANDS", "main"]

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
# What a shell reports for a process killed by SIGPIPE; `grep | head` looks the same.
EXIT_BROKEN_PIPE = 141


class Command:
    # A plain class: `typing.NamedTuple` costs start-up time (see benchmarks/startup.py).
    __slots__ = ("help", "module")

    def __init__(self, module: str, help: str) -> None:
        self.module = module
        self.help = help


COMMANDS: dict[str, Command] = {
    "run": Command("perflab.commands.run", "run the case studies and write the report"),
    "report": Command("perflab.commands.report", "a results file as Markdown or HTML; make docs"),
    "compare": Command("perflab.commands.compare", "compare two results files (benchstat-style)"),
    "amdahl": Command("perflab.commands.amdahl", "overall speedup from Amdahl's law"),
    "profile": Command("perflab.commands.profile", "profile one variant of a case"),
    "bench": Command("perflab.commands.bench", "time whole commands against the first one"),
    "search": Command("perflab.search._cli", "grep-like recursive search (case study 3)"),
    "gateway": Command("perflab.gateway._cli", "HTTP API gateway, upstream, load (case study 1)"),
    "stream": Command("perflab.stream._cli", "Kafka -> ClickHouse processor (case study 4)"),
    "bounded": Command("perflab.bounded._cli", "a service that lives in a memory limit (case 5)"),
    "etl": Command("perflab.etl._cli", "validated CSV -> PostgreSQL bulk loader (case study 2)"),
}


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter without its `shutil` import (start-up: see benchmarks/startup.py)."""

    def __init__(self, prog: str) -> None:
        try:
            width = os.get_terminal_size(sys.stdout.fileno()).columns
        except (OSError, ValueError):
            width = int(os.environ.get("COLUMNS", "80"))
        super().__init__(prog, width=max(width - 2, 40))


def _top_parser() -> argparse.ArgumentParser:
    width = max(len(name) for name in COMMANDS)
    listing = "\n".join(f"  {name:<{width}}  {cmd.help}" for name, cmd in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="perflab",
        description="Real-world performance case studies, measured in Python.",
        epilog=f"commands:\n{listing}\n\nRun `perflab COMMAND --help` for a command's options.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"perflab {__version__}")
    parser.add_argument("command", choices=COMMANDS, metavar="COMMAND")
    parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def _dispatch(argv: Sequence[str]) -> int:
    top = _top_parser().parse_args(argv)
    command = COMMANDS[top.command]
    module = importlib.import_module(command.module)
    parser = argparse.ArgumentParser(
        prog=f"perflab {top.command}", description=command.help, formatter_class=_Formatter
    )
    module.configure(parser)
    args = parser.parse_args(top.args)
    status: int = module.main(args)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    from perflab.errors import PerflabError

    try:
        status = _dispatch(sys.argv[1:] if argv is None else argv)
        sys.stdout.flush()
        return status
    except PerflabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        # The reader went away (`| head`): point stdout at /dev/null so the
        # interpreter's final flush does not raise a second time.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
