"""One file's output as bytes: grep's lines, context, -o, -c, -l, --json, colour.

Pure: a buffer and the compiled pattern in, the bytes to print out. Per file,
so parallel workers format in parallel and the parent only writes.

A file's selected lines are gathered as *runs*: (first line number, start
offset, stop offset, line count), a run being consecutive selected lines. With
a pattern, a run is one matching line; with -v, a run is the stretch between
two matching lines, so an inverted search of a file with few matches is a few
block copies (`bytes.replace` puts the file name before every line at C speed),
not a Python loop over its lines.

Binary files follow GNU grep 3.x in the C locale: a NUL byte in grep's first
read (`FIRST_BUFFER`) makes the file binary from its start, a later NUL from
the buffer that holds it on. In the binary part, NULs end lines (grep "zaps"
them, which changes what -c counts), and the first selected line there stops
the output with "binary file matches" (a notice on stderr, not an error).
"""

from __future__ import annotations

import os

# `collections` only for mypy: start-up does not import it (benchmarks/startup.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from perflab.search._matcher import BytesPattern

__all__ = ["FIRST_BUFFER", "Format", "Result", "format_buffer", "format_matches", "summary_line"]

# GNU grep's first read is 96 KiB (INITIAL_BUFSIZE in grep 3.x; found by moving a
# NUL across the boundary with grep 3.8): NULs before it make the whole file binary.
FIRST_BUFFER = 96 * 1024
# -z: records end with NUL. Swapping NUL and newline lets the newline machinery run
# unchanged; the output is swapped back (line contents and record ends alike).
_SWAP = bytes.maketrans(b"\0\n", b"\n\0")

# GNU grep's default GREP_COLORS: file name magenta, line number green,
# separator cyan, match bold red; \33[K clears to the end of the line.
FILE_COLOR = b"\033[35m\033[K"
LINE_COLOR = b"\033[32m\033[K"
SEP_COLOR = b"\033[36m\033[K"
MATCH_COLOR = b"\033[01;31m\033[K"
RESET = b"\033[m\033[K"

Run = tuple[int, int, int, int]  # first line number, start, stop (after the last eol), lines


class Format:
    """How to select and print. (A plain class: `dataclasses` would slow start-up.)"""

    __slots__ = ("after", "before", "binary_skip", "binary_text", "byte_offset", "color",
                 "context",
                 "invert", "line_numbers", "max_count", "mode", "null", "null_data",
                 "with_filename")

    def __init__(
        self,
        mode: str = "lines",  # lines | only (-o) | files (-l) | files-without (-L) | count (-c)
        #                       | quiet (-q) | json
        line_numbers: bool = False,
        with_filename: bool = True,
        color: bool = False,
        *,
        invert: bool = False,  # -v
        before: int = 0,  # -B
        after: int = 0,  # -A
        context: bool = False,  # any of -A/-B/-C given, even 0: groups get "--" between them
        max_count: int | None = None,  # -m
        null: bool = False,  # -Z: NUL after file names
        null_data: bool = False,  # -z: NUL-terminated records
        binary_text: bool = False,  # -a
        binary_skip: bool = False,  # -I: the binary part of a file holds no match
        byte_offset: bool = False,  # -b: each line's (with -o, each match's) byte offset
    ) -> None:
        self.mode = mode
        self.line_numbers = line_numbers
        self.with_filename = with_filename
        self.color = color
        self.invert = invert
        self.before = before
        self.after = after
        self.context = context
        self.max_count = max_count
        self.null = null
        self.null_data = null_data
        self.binary_text = binary_text
        self.binary_skip = binary_skip
        self.byte_offset = byte_offset

    @property
    def first_only(self) -> bool:
        """Whether one selected line decides the file's output (-l, -L, -q)."""
        return self.mode in ("files", "files-without", "quiet")


class Result:
    """One file's output, its selected-line count and whether a binary part matched."""

    __slots__ = ("binary", "matches", "out", "selected")

    def __init__(self, out: bytes, selected: int, binary: bool = False, matches: int = 0) -> None:
        self.out = out
        self.selected = selected
        self.binary = binary
        self.matches = matches  # submatches, counted for --json's summary only


def _runs(regex: BytesPattern, data: bytes | bytearray, size: int, fmt: Format,
          may_match: bool) -> list[Run]:
    from perflab.search._matcher import scan_buffer

    limit = 1 if fmt.first_only else fmt.max_count
    found = scan_buffer(regex, data, size) if may_match else iter(())
    runs: list[Run] = []
    if not fmt.invert:
        for lineno, start, end in found:
            runs.append((lineno, start, min(end + 1, size), 1))
            if limit is not None and len(runs) >= limit:
                break
        return runs
    pos, lineno = 0, 1
    for number, start, end in found:
        if start > pos:
            runs.append((lineno, pos, start, number - lineno))
        pos, lineno = end + 1, number + 1
    if pos < size:
        runs.append((lineno, pos, size, _count_lines(data, pos, size)))
    return runs if limit is None else _truncate(data, runs, limit)


def _count_lines(data: bytes | bytearray, start: int, stop: int) -> int:
    if stop <= start:
        return 0
    return data.count(b"\n", start, stop) + (data[stop - 1] != 0x0A)


def _forward(data: bytes | bytearray, pos: int, end: int, lines: int) -> int:
    """The offset `lines` lines after `pos`, at most `end`."""
    for _ in range(lines):
        if pos >= end:
            break
        nl = data.find(b"\n", pos, end)
        pos = end if nl < 0 else nl + 1
    return pos


def _backward(data: bytes | bytearray, pos: int, floor: int, lines: int) -> tuple[int, int]:
    """The start of the line `lines` lines before `pos`, not before `floor`; and how many."""
    taken = 0
    while taken < lines and pos > floor:
        nl = data.rfind(b"\n", floor, pos - 1)
        pos = floor if nl < 0 else nl + 1
        taken += 1
    return pos, taken


def _truncate(data: bytes | bytearray, runs: list[Run], limit: int) -> list[Run]:
    kept: list[Run] = []
    total = 0
    for lineno, start, stop, count in runs:
        if total + count >= limit:
            take = limit - total
            if take:
                kept.append((lineno, start, _forward(data, start, stop, take), take))
            break
        kept.append((lineno, start, stop, count))
        total += count
    return kept


def _cut_binary(data: bytes | bytearray, runs: list[Run], at: int) -> tuple[list[Run], bool]:
    """The runs before the binary part, and whether any selected line lies in it."""
    text = [r for r in runs if r[2] <= at]
    if len(text) == len(runs):
        return runs, False
    lineno, start, _, _ = runs[len(text)]
    if start < at:
        text.append((lineno, start, at, _count_lines(data, start, at)))
    return text, True


class _Printer:
    """Line prefixes for one file, plain or coloured, built once."""

    __slots__ = ("base", "color", "ctx_head", "head", "numbers", "offsets", "regex",
                 "separator")

    def __init__(self, name: bytes, fmt: Format, regex: BytesPattern | None,
                 base: int = 0) -> None:
        self.numbers = fmt.line_numbers
        self.offsets = fmt.byte_offset
        self.base = base  # the input's byte offset of the buffer's start (-b)
        self.color = fmt.color
        self.regex = regex if fmt.color and not fmt.invert else None
        # grep ends "--" with a newline even with -z: it is never swapped (see format_buffer).
        self.separator = SEP_COLOR + b"--" + RESET + b"\n" if fmt.color else b"--\n"
        sep, ctx = (b"\0", b"\0") if fmt.null else (b":", b"-")
        if not fmt.with_filename:
            self.head = self.ctx_head = b""
        elif fmt.color:
            shown = FILE_COLOR + name + RESET
            self.head = shown + (sep if fmt.null else SEP_COLOR + sep + RESET)
            self.ctx_head = shown + (ctx if fmt.null else SEP_COLOR + ctx + RESET)
        else:
            self.head, self.ctx_head = name + sep, name + ctx

    def block(self, out: list[bytes], block: bytes, lineno: int, selected: bool,
              offset: int = 0) -> None:
        """Print whole lines `block` (each ending with a newline), the first numbered `lineno`
        and starting at byte `offset` of the file (for -b)."""
        head = self.head if selected else self.ctx_head
        if not (self.numbers or self.color or self.offsets):
            if head:
                out.append(head + block[:-1].replace(b"\n", b"\n" + head) + b"\n")
            else:
                out.append(block)
            return
        lines = block[:-1].split(b"\n")
        numsep = b":" if selected else b"-"
        offset += self.base
        if not self.color:
            if not self.offsets:
                out.append(b"".join([b"%s%d%s%s\n" % (head, n, numsep, line)
                                     for n, line in enumerate(lines, lineno)]))
                return
            for n, line in enumerate(lines, lineno):
                number = b"%d%s" % (n, numsep) if self.numbers else b""
                out.append(b"%s%s%d%s%s\n" % (head, number, offset, numsep, line))
                offset += len(line) + 1
            return
        regex = self.regex if selected else None
        numsep = SEP_COLOR + numsep + RESET
        for n, line in enumerate(lines, lineno):
            number = LINE_COLOR + b"%d" % n + RESET + numsep if self.numbers else b""
            if self.offsets:  # grep colours the offset as the line number
                number += LINE_COLOR + b"%d" % offset + RESET + numsep
                offset += len(line) + 1
            if regex is not None:
                line = regex.sub(lambda m: MATCH_COLOR + m[0] + RESET if m[0] else b"", line)
            out.append(head + number + line + b"\n")

    def matches(self, out: list[bytes], regex: BytesPattern, data: bytes | bytearray,
                start: int, stop: int, lineno: int) -> None:
        """-o: each non-empty match of the selected lines in [start, stop), one per line."""
        sep = SEP_COLOR + b":" + RESET if self.color else b":"
        for n in range(lineno, lineno + 1 + data.count(b"\n", start, stop)):
            if start >= stop:
                break
            end = data.find(b"\n", start, stop)
            end = stop if end < 0 else end
            number = b"%d:" % n if self.numbers else b""
            if self.color and self.numbers:
                number = LINE_COLOR + b"%d" % n + RESET + sep
            for m in regex.finditer(data, start, end):
                if m.end() > m.start():
                    text = MATCH_COLOR + m[0] + RESET if self.color else m[0]
                    at = b""
                    if self.offsets:
                        where = m.start() + self.base
                        at = (LINE_COLOR + b"%d" % where + RESET + sep if self.color
                              else b"%d:" % where)
                    out.append(self.head + number + at + text + b"\n")
            start = end + 1


def _lines(data: bytes | bytearray, runs: Sequence[Run], end: int, fmt: Format,
           printer: _Printer, regex: BytesPattern) -> list[bytes]:
    """Selected lines (or -o's matches), with context lines and "--" between groups.

    Every group, the file's first included, is preceded by "--" when context was
    asked for: the parent drops the very first one of the whole output, so groups
    of different files are separated as grep separates them.
    """
    out: list[bytes] = []
    only = fmt.mode == "only"
    if not fmt.context:
        for lineno, start, stop, _ in runs:
            if only:
                if not fmt.invert:
                    printer.matches(out, regex, data, start, stop, lineno)
            else:
                printer.block(out, _whole(data, start, stop), lineno, True, start)
        return out
    printed = 0  # offset of the first line not yet printed (nor skipped over)
    after_from = after_lineno = -1
    for lineno, start, stop, count in runs:
        if after_from >= 0:
            a_end = _forward(data, after_from, start, fmt.after)
            if a_end > after_from and not only:
                printer.block(out, _whole(data, after_from, a_end), after_lineno, False,
                              after_from)
            printed = a_end
        b_start, taken = _backward(data, start, printed, fmt.before)
        if after_from < 0 or b_start > printed:
            out.append(printer.separator)
        if b_start < start and not only:
            printer.block(out, bytes(data[b_start:start]), lineno - taken, False, b_start)
        if only:
            if not fmt.invert:
                printer.matches(out, regex, data, start, stop, lineno)
        else:
            printer.block(out, _whole(data, start, stop), lineno, True, start)
        after_from, after_lineno = stop, lineno + count
    if after_from >= 0 and not only:
        a_end = _forward(data, after_from, end, fmt.after)
        if a_end > after_from:
            printer.block(out, _whole(data, after_from, a_end), after_lineno, False,
                          after_from)
    return out


def _whole(data: bytes | bytearray, start: int, stop: int) -> bytes:
    block = bytes(data[start:stop])
    return block if block.endswith(b"\n") else block + b"\n"


def _json(path: str, data: bytes | bytearray, runs: Sequence[Run], end: int, fmt: Format,
          regex: BytesPattern) -> tuple[bytes, int]:
    """rg's --json records for one file: begin, a match per selected line (a context
    record per context line with -A/-B/-C, as rg's), end."""
    import json

    name = _json_text(path)
    records: list[dict[str, object]] = [{"type": "begin", "data": {"path": name}}]
    total = lines = 0

    def add(kind: str, start: int, stop: int, lineno: int, subs: bool) -> int:
        """Records for the lines in [start, stop), the first numbered `lineno`; submatches."""
        found = 0
        pos = start
        while pos < stop:
            eol = data.find(b"\n", pos, stop)
            eol = stop if eol < 0 else eol
            matches = [
                {"match": _json_bytes(m[0]), "start": m.start() - pos, "end": m.end() - pos}
                for m in regex.finditer(data, pos, eol) if m.end() > m.start()] if subs else []
            found += len(matches)
            records.append({"type": kind, "data": {
                "path": name, "lines": _json_bytes(bytes(data[pos:eol]) + b"\n"),
                "line_number": lineno, "absolute_offset": pos, "submatches": matches}})
            pos, lineno = eol + 1, lineno + 1
        return found

    # Context as _lines gives it, without the "--" between groups (JSON needs none).
    # Context lines carry their submatches (with -v they are the matching lines), as rg's.
    printed = 0
    after_from = after_lineno = -1
    for lineno, start, stop, count in runs:
        if after_from >= 0 and fmt.after:
            printed = _forward(data, after_from, start, fmt.after)
            add("context", after_from, printed, after_lineno, True)
        if fmt.before:
            b_start, taken = _backward(data, start, max(printed, after_from), fmt.before)
            add("context", b_start, start, lineno - taken, True)
        total += add("match", start, stop, lineno, not fmt.invert)
        lines += count
        after_from, after_lineno = stop, lineno + count
    if after_from >= 0 and fmt.after:
        add("context", after_from, _forward(data, after_from, end, fmt.after), after_lineno, True)
    records.append({"type": "end", "data": {"path": name, "binary_offset": None,
                                            "stats": {"matched_lines": lines, "matches": total}}})
    return b"".join(json.dumps(r).encode() + b"\n" for r in records), total


def _json_text(path: str) -> dict[str, str]:
    return _json_bytes(os.fsencode(path))


def _json_bytes(data: bytes) -> dict[str, str]:
    # As ripgrep's JSON: text when it is UTF-8, base64 bytes otherwise.
    try:
        return {"text": data.decode("utf-8")}
    except UnicodeDecodeError:
        import base64

        return {"bytes": base64.b64encode(data).decode("ascii")}


def format_buffer(
    path: str,
    data: bytes | bytearray,
    size: int,
    regex: BytesPattern,
    fmt: Format,
    *,
    may_match: bool = True,
    color_regex: BytesPattern | None = None,
    first_line: int = 1,
    base: int = 0,
    binary: bool = False,
) -> Result:
    """The output for one file whose contents are `data[:size]`.

    `may_match=False` says the prefilter proved that no line matches (then
    no regex runs at all). A window of a longer input (standard input, read as it
    comes: _stdin.py) starts at line `first_line` and byte `base` of it, and with
    `binary` lies in the input's binary part (an earlier window held a NUL).
    """
    if not may_match and not fmt.invert:
        return _no_lines(path, fmt)
    if fmt.null_data:
        data = bytes(data[:size]).translate(_SWAP)
    binary_at = -1
    if not (fmt.binary_text or fmt.null_data):
        nul = 0 if binary else data.find(b"\0", 0, size)
        if nul >= 0:
            # grep's reads are FIRST_BUFFER-aligned in the input, not in a window of it
            at = base + nul
            cut = at - at % FIRST_BUFFER - base
            binary_at = 0 if at < FIRST_BUFFER or cut <= 0 else data.rfind(b"\n", 0, cut) + 1
            data = bytes(data[:binary_at]) + data[binary_at:size].replace(b"\0", b"\n")
    runs = _runs(regex, data, size, fmt, may_match)
    if first_line != 1:
        runs = [(lineno + first_line - 1, start, stop, count)
                for lineno, start, stop, count in runs]
    mode = fmt.mode
    if binary_at >= 0 and fmt.binary_skip:  # -I: only the lines before the binary part
        runs, _ = _cut_binary(data, runs, binary_at)
        if mode == "count":
            # grep -I -c counts 0 for a file whose binary part it reached, whatever came
            # before; with -m it may have stopped short of it
            found = sum(r[3] for r in runs)
            found = found if fmt.max_count is not None and found >= fmt.max_count else 0
            return Result(summary_line(path, found, fmt), found)
        binary_at = -1
    selected = sum(r[3] for r in runs)
    if mode in ("count", "files", "files-without", "quiet"):
        if mode == "files-without":  # -L: the files with no selected line are listed
            return Result(b"" if selected else summary_line(path, 0, fmt), selected)
        if not selected and mode != "count":
            return Result(b"", 0)
        return Result(summary_line(path, selected, fmt), selected)
    binary = False
    end = size
    if binary_at >= 0:
        runs, binary = _cut_binary(data, runs, binary_at)
        end = binary_at
    if not runs:
        return Result(b"", selected, binary)
    if mode == "json":
        out, matches = _json(path, data, runs, end, fmt, regex)
        return Result(out, selected, binary, matches)
    printer = _Printer(os.fsencode(path), fmt, color_regex, base)
    parts = _lines(data, runs, end, fmt, printer, regex)
    if fmt.null_data:
        sep = printer.separator
        parts = [p if p is sep else p.translate(_SWAP) for p in parts]
    return Result(b"".join(parts), selected, binary)


def summary_line(path: str, selected: int, fmt: Format) -> bytes:
    """What -c, -l or -L prints for a file with `selected` selected lines."""
    name = os.fsencode(path)
    if fmt.mode == "quiet":
        return b""
    if fmt.color:
        name = FILE_COLOR + name + RESET
    if fmt.mode in ("files", "files-without"):
        return name + (b"\0" if fmt.null else b"\n")
    count = b"%d\n" % selected
    if not fmt.with_filename:
        return count
    if fmt.null:
        return name + b"\0" + count
    return name + (SEP_COLOR + b":" + RESET if fmt.color else b":") + count


def _no_lines(path: str, fmt: Format) -> Result:
    listed = fmt.mode in ("count", "files-without")
    return Result(summary_line(path, 0, fmt) if listed else b"", 0)


def format_matches(path: str, matches: Sequence[tuple[int, bytes]], fmt: Format) -> bytes:
    """The early ladder steps' output (line-by-line engine): plain lines, -n, -l, -c."""
    if fmt.mode in ("count", "files"):
        return summary_line(path, len(matches), fmt) if matches or fmt.mode == "count" else b""
    head = os.fsencode(path) + b":" if fmt.with_filename else b""
    if fmt.line_numbers:
        return b"".join(b"%s%d:%s\n" % (head, number, line) for number, line in matches)
    return b"".join(head + line + b"\n" for _, line in matches)
