"""Standard input searched as it comes, as grep does: `tail -f log | perflab search ERROR`.

The input is read as the pipe delivers it and searched a window at a time, a
window being the complete lines (or -z records) read so far; each window's
output is written before the next read, so a line that matches is printed as
soon as it arrives, and memory holds one window, not the whole input. A window
is formatted as a file whose lines and bytes are numbered from where it starts
(`format_buffer`'s `first_line` and `base`); -m counts over the whole input,
-c and -L report once at the end, -l and -q stop at the first selected line.

Context (-A/-B/-C) and --json need the input whole (groups and records span
windows): they read it all first, as a file is read.
"""

from __future__ import annotations

import os

from perflab.search._output import Format, Result, format_buffer, summary_line

TYPE_CHECKING = False  # `typing` slows start-up (benchmarks/startup.py); mypy only
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from perflab.search._files import BufferedEngine

__all__ = ["READ_SIZE", "read_stdin", "search_windows", "streams", "windows"]

# At most this much a read: a pipe gives what it holds (64 KiB at most on Linux), at once,
# so a slow producer's lines are searched as they come; a file gives this much.
READ_SIZE = 1 << 20


def streams(fmt: Format) -> bool:
    """Whether this output can be made a window at a time."""
    return not fmt.context and fmt.mode != "json"


def read_stdin() -> bytes:
    """What standard input holds now (b"" at its end), waiting only when it holds nothing."""
    return os.read(0, READ_SIZE)


def windows(read: Callable[[], bytes], end: bytes) -> Iterator[tuple[bytes, bool]]:
    """The input's complete records (ending with `end`) as they arrive, the rest at EOF;
    each with whether the bytes read past it hold a NUL (grep sees a whole read at once).

    A record longer than a read (a long line, a slow writer) is kept as pieces and
    joined once it ends: appending each read to it would copy it again every time."""
    pending: list[bytes] = []
    while chunk := read():
        cut = chunk.rfind(end) + 1
        if not cut:
            pending.append(chunk)
            continue
        if pending:
            pending.append(chunk[:cut])
            window = b"".join(pending)
            pending = []
        else:
            window = chunk[:cut]
        if cut < len(chunk):
            pending.append(chunk[cut:])
        yield window, b"\0" in chunk[cut:]
    if pending:
        yield b"".join(pending), False


def search_windows(engine: BufferedEngine, label: str, fmt: Format,
                   read: Callable[[], bytes] = read_stdin) -> Iterator[Result]:
    """The output of standard input, window by window (a Result each: `binary` is grep's
    "binary file matches", which ends the search), then the end's summary line."""
    import copy

    end = b"\0" if fmt.null_data else b"\n"
    line, base, total = 1, 0, 0
    binary = False  # a NUL was seen: the rest of the input is its binary part
    limit = fmt.max_count
    summary_only = fmt.mode in ("count", "files-without")
    window_fmt = fmt
    text = fmt.binary_text or fmt.null_data
    for data, nul_after in windows(read, end):
        size = len(data)
        # A NUL read with this window, past its last line, makes it binary from its start
        binary = binary or (not text and nul_after)
        if limit is not None:
            window_fmt = copy.copy(fmt)
            window_fmt.max_count = limit - total
        result = format_buffer(label, data, size, engine.regex, window_fmt,
                               may_match=engine.may_match(data, size),
                               color_regex=engine.color_regex, first_line=line, base=base,
                               binary=binary)
        total += result.selected
        if fmt.mode == "files-without" and total:
            break  # -L: this input is not listed, whatever follows
        if not summary_only:
            yield result
            if result.binary or (result.selected and fmt.first_only):
                return
        if limit is not None and total >= limit:
            break
        binary = binary or (not text and b"\0" in data)
        if binary and fmt.binary_skip:
            # -I: the binary part holds no match, so nothing more can be selected; and
            # grep -I -c counts 0 for an input whose binary part it reached
            total = 0 if fmt.mode == "count" else total
            break
        line += data.count(end)
        base += size
    if summary_only:
        shown = fmt.mode == "count" or not total
        yield Result(summary_line(label, total, fmt) if shown else b"", total)
