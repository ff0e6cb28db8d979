"""The `perflab` command line: parse, call, report.

Subcommands come from a table. Only the chosen command's module is imported,
and that module imports anything heavy inside its `main`, so `perflab search`
pays for its own code, nothing else (start-up time is measured).

A command module provides `configure(parser)` and `main(args) -> int`, and
may provide `parse_fast(argv)`: the options parsed without argparse (whose
import and parser building are a good part of a search's start-up,
benchmarks/startup.py), or None to have argparse parse them after all. A
module whose `EXIT_UNFINALIZED` is true leaves nothing for the interpreter's
finalization to do (no atexit handlers, no files but stdout and stderr): when
it is the program (`main()` with no argv), the process ends with `os._exit`
after flushing them, skipping the final garbage collection and module teardown
(which show in a search's CPU time: benchmarks/search_peers.py).
Every `PerflabError` becomes one `error: ...` line on stderr and exit status 2;
a closed pipe (`perflab ... | head`) ends quietly.
"""

from __future__ import annotations

import os
import sys

from perflab import __version__

TYPE_CHECKING = False  # importing `typing` slows start-up (benchmarks/startup.py); mypy only
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

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


def _formatter() -> type[argparse.HelpFormatter]:
    import argparse

    class _Formatter(argparse.RawDescriptionHelpFormatter):
        """argparse's formatter without its `shutil` import (start-up: benchmarks/startup.py),
        and the terminal's width asked once (argparse makes a formatter per argument)."""

        def __init__(self, prog: str) -> None:
            super().__init__(prog, width=width)

    try:
        width = os.get_terminal_size(sys.stdout.fileno()).columns
    except (OSError, ValueError):
        width = int(os.environ.get("COLUMNS", "80"))
    width = max(width - 2, 40)
    return _Formatter


def _top_parser(formatter: type[argparse.HelpFormatter]) -> argparse.ArgumentParser:
    import argparse

    width = max(len(name) for name in COMMANDS)
    listing = "\n".join(f"  {name:<{width}}  {cmd.help}" for name, cmd in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="perflab",
        description="Real-world performance case studies, measured in Python.",
        epilog=f"commands:\n{listing}\n\nRun `perflab COMMAND --help` for a command's options.",
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"perflab {__version__}")
    parser.add_argument("command", choices=COMMANDS, metavar="COMMAND")
    parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


_EXIT_UNFINALIZED = [False]  # set by _module: the command asks to skip finalization


def _module(command: Command) -> object:
    __import__(command.module)  # not importlib: its import is start-up time too
    module = sys.modules[command.module]
    _EXIT_UNFINALIZED[0] = bool(getattr(module, "EXIT_UNFINALIZED", False))
    return module


def _dispatch(argv: Sequence[str]) -> int:
    if argv and argv[0] in COMMANDS:  # the command's own fast parser, when it has one
        module = _module(COMMANDS[argv[0]])
        parse_fast = getattr(module, "parse_fast", None)
        fast = parse_fast(argv[1:]) if parse_fast is not None else None
        if fast is not None:
            status: int = module.main(fast)  # type: ignore[attr-defined]
            return status
    import argparse

    formatter = _formatter()
    top = _top_parser(formatter).parse_args(argv)
    command = COMMANDS[top.command]
    module = _module(command)
    parser = argparse.ArgumentParser(
        prog=f"perflab {top.command}", description=command.help, formatter_class=formatter
    )
    module.configure(parser)  # type: ignore[attr-defined]
    args = parser.parse_args(top.args)
    status = module.main(args)  # type: ignore[attr-defined]
    return status


def main(argv: Sequence[str] | None = None) -> int:
    status = _main(argv)
    if argv is None and _EXIT_UNFINALIZED[0]:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BrokenPipeError:
            status = EXIT_BROKEN_PIPE
        os._exit(status)
    return status


def _main(argv: Sequence[str] | None) -> int:
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
