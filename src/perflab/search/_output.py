"""Formatting one file's matches as bytes: grep's lines, -l, -c, --json, colour.

Per file, so parallel workers can format in parallel and the parent only writes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from perflab.search._files import Match

__all__ = ["Format", "format_file"]

# GNU grep's default GREP_COLORS: file name magenta, line number green,
# separator cyan, match bold red; \33[K clears to the end of the line.
FILE_COLOR = b"\033[35m\033[K"
LINE_COLOR = b"\033[32m\033[K"
SEP_COLOR = b"\033[36m\033[K"
MATCH_COLOR = b"\033[01;31m\033[K"
RESET = b"\033[m\033[K"


class Format:
    __slots__ = ("color", "line_numbers", "mode", "with_filename")

    def __init__(
        self,
        mode: str = "lines",  # lines | files (-l) | count (-c) | json (--json)
        line_numbers: bool = False,
        with_filename: bool = True,
        color: bool = False,
    ) -> None:
        self.mode = mode
        self.line_numbers = line_numbers
        self.with_filename = with_filename
        self.color = color


def _json_text(data: bytes) -> dict[str, str]:
    # As ripgrep's JSON: text when it is UTF-8, base64 bytes otherwise.
    try:
        return {"text": data.decode("utf-8")}
    except UnicodeDecodeError:
        import base64

        return {"bytes": base64.b64encode(data).decode("ascii")}


def _highlight(line: bytes, regex: re.Pattern[bytes] | None) -> bytes:
    if regex is None:
        return line
    return regex.sub(lambda m: MATCH_COLOR + m.group(0) + RESET if m.group(0) else b"", line)


def format_file(
    path: str, matches: Sequence[Match], fmt: Format, regex: re.Pattern[bytes] | None = None
) -> bytes:
    """The output for one file with at least one match."""
    name = os.fsencode(path)
    if fmt.mode == "files":
        return (FILE_COLOR + name + RESET if fmt.color else name) + b"\n"
    if fmt.mode == "count":
        count = str(len(matches)).encode()
        if not fmt.with_filename:
            return count + b"\n"
        if fmt.color:
            return FILE_COLOR + name + RESET + SEP_COLOR + b":" + RESET + count + b"\n"
        return name + b":" + count + b"\n"
    if fmt.mode == "json":
        import json

        return b"".join(
            json.dumps({"path": path, "line": number, **_json_text(line)}).encode() + b"\n"
            for number, line in matches
        )
    if fmt.color:
        sep = SEP_COLOR + b":" + RESET
        head = FILE_COLOR + name + RESET + sep if fmt.with_filename else b""
        return b"".join(
            head
            + (LINE_COLOR + str(number).encode() + RESET + sep if fmt.line_numbers else b"")
            + _highlight(line, regex)
            + b"\n"
            for number, line in matches
        )
    head = name + b":" if fmt.with_filename else b""
    if fmt.line_numbers:
        return b"".join(b"%s%d:%s\n" % (head, number, line) for number, line in matches)
    return b"".join(head + line + b"\n" for _, line in matches)
