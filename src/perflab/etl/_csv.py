"""Pure core: the CSV dialect, and PostgreSQL's CSV semantics for Python's side of the load.

One semantics on every path: the server reads the same bytes with `COPY ... (FORMAT
csv, DELIMITER, QUOTE, ESCAPE, NULL, ENCODING)`, and this module reads them the way
the server does, so a row gets the same verdict whoever checks it:

- a field is a mix of unquoted text and quoted sections (`"..."`); inside a section
  the escape character (the quote itself by default, so `""`) escapes a quote or
  itself, and newlines and delimiters are data;
- a field is NULL when it has no quoted section and its text equals `--null`
  (empty by default): unquoted empty = NULL, quoted empty `""` = the empty string;
- a row ends at a line end (`\\n` or `\\r\\n`) outside quoted sections.

One deliberate difference keeps a stray quote from swallowing the file: a quoted
section that opens in the middle of a field (`ab"c`) must close on its own line,
or that line is rejected as bad quoting. PostgreSQL would read on into the next
rows (one odd quote pairs with the next row's, and so on to the end); the server
path never sees such a chunk succeed, since the split and the field counts break,
so it is decided here (see `RowReader`).

`csv.reader` cannot be used: it gives `""` and an empty field the same value.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property

__all__ = ["BOM", "Dialect", "DialectError", "RowReader", "csv_rows", "parse_fields",
           "row_boundary"]

# Python codec name -> PostgreSQL encoding name, for `COPY ... ENCODING`: the server
# converts these exactly. Any other ASCII-compatible codec is decoded in Python.
PG_ENCODINGS = {
    "utf_8": "UTF8", "latin_1": "LATIN1", "iso8859_2": "LATIN2", "iso8859_3": "LATIN3",
    "iso8859_4": "LATIN4", "iso8859_9": "LATIN5", "iso8859_10": "LATIN6",
    "iso8859_13": "LATIN7", "iso8859_14": "LATIN8", "iso8859_15": "LATIN9",
    "iso8859_16": "LATIN10", "iso8859_5": "ISO_8859_5", "iso8859_6": "ISO_8859_6",
    "iso8859_7": "ISO_8859_7", "iso8859_8": "ISO_8859_8", "cp1250": "WIN1250",
    "cp1251": "WIN1251", "cp1252": "WIN1252", "cp1253": "WIN1253", "cp1254": "WIN1254",
    "cp1255": "WIN1255", "cp1256": "WIN1256", "cp1257": "WIN1257", "cp1258": "WIN1258",
    "cp866": "WIN866", "cp874": "WIN874", "koi8_r": "KOI8R", "koi8_u": "KOI8U",
    "euc_jp": "EUC_JP", "euc_kr": "EUC_KR", "gbk": "GBK", "gb18030": "GB18030",
    "big5": "BIG5", "shift_jis": "SJIS",
}
PG_ENCODINGS = {codecs.lookup(name).name: pg for name, pg in PG_ENCODINGS.items()}
BOM = b"\xef\xbb\xbf"


class DialectError(ValueError):
    """An option value that cannot describe a CSV file (the CLI makes it a UsageError)."""


@dataclass(frozen=True)
class Dialect:
    delimiter: str = ","
    quote: str = '"'
    escape: str = ""  # empty: the quote character, as in PostgreSQL
    null: str = ""
    encoding: str = "utf-8"
    header: bool = True

    def __post_init__(self) -> None:
        for name in ("delimiter", "quote", "escape"):
            value = getattr(self, name)
            if name == "escape" and value == "":
                continue
            if len(value) != 1 or not value.isascii() or value in "\r\n":
                raise DialectError(f"--{name} must be one ASCII character, not {value!r}")
        if self.delimiter == self.quote:
            raise DialectError("--delimiter and --quote must differ")
        if any(c in self.null for c in (self.delimiter, self.quote, "\r", "\n")):
            raise DialectError("--null must not contain the delimiter, the quote or a line end")
        try:
            info = codecs.lookup(self.encoding)
        except LookupError:
            raise DialectError(f"unknown --encoding {self.encoding!r}") from None
        probe = ',;|\t"\'\\\n\rabcXYZ019 '
        try:
            ascii_compatible = probe.encode(info.name) == probe.encode("ascii")
        except (UnicodeError, LookupError):
            ascii_compatible = False
        if not ascii_compatible:
            raise DialectError(f"--encoding {self.encoding}: only ASCII-compatible encodings "
                               "can be split at line ends (convert UTF-16 files first)")

    @property
    def esc(self) -> str:
        return self.escape or self.quote

    @property
    def codec(self) -> str:
        """The normalized Python codec name ("utf-8", "iso8859-1", ...)."""
        return codecs.lookup(self.encoding).name

    @property
    def utf8(self) -> bool:
        return self.codec == "utf-8"

    @property
    def pg_encoding(self) -> str | None:
        """The server's name for the encoding, or None when only Python can convert it."""
        return PG_ENCODINGS.get(self.codec)

    @property
    def default(self) -> bool:
        return (self.delimiter, self.quote, self.esc, self.null) == (",", '"', '"', "")

    def copy_options(self, encoding: bool = False) -> str:
        """`COPY ... (FORMAT csv, ...)` options for this dialect (quoted SQL literals)."""
        def lit(value: str) -> str:
            return "'" + value.replace("'", "''") + "'"

        out = ["FORMAT csv"]
        if self.delimiter != ",":
            out.append(f"DELIMITER {lit(self.delimiter)}")
        if self.quote != '"':
            out.append(f"QUOTE {lit(self.quote)}")
        if self.esc != self.quote:
            out.append(f"ESCAPE {lit(self.esc)}")
        if self.null:
            out.append(f"NULL {lit(self.null)}")
        if encoding and self.pg_encoding and not self.utf8:
            out.append(f"ENCODING {lit(self.pg_encoding)}")
        return ", ".join(out)

    @cached_property
    def patterns(self) -> _Patterns:
        return _Patterns(self)


class _Patterns:
    """The regexes of one dialect, compiled once."""

    def __init__(self, d: Dialect) -> None:
        dl, q, e = re.escape(d.delimiter), re.escape(d.quote), re.escape(d.esc)
        if d.esc == d.quote:
            inside = f"[^{q}]*(?:{q}{q}[^{q}]*)*"
            inside_line = f"[^{q}\\n]*(?:{q}{q}[^{q}\\n]*)*"
            self.unescape = re.compile(f"{q}{q}")
        else:
            inside = f"[^{q}{e}]*(?:{e}[\\s\\S][^{q}{e}]*)*"
            inside_line = f"[^{q}{e}\\n]*(?:{e}[^\\n][^{q}{e}\\n]*)*"
            self.unescape = re.compile(f"{e}([{q}{e}])")
        plain = f"[^{dl}{q}\\r\\n]"
        # A field: an optional section at its start (may span lines), then plain text and
        # sections that close on their line.
        # Unrolled (`x*(?:sy*)*`, never `(?:x+)*`): no backtracking blow-up on a bad line.
        fld = f"(?:{q}{inside}{q})?{plain}*(?:{q}{inside_line}{q}{plain}*)*"
        self.field = re.compile(fld)
        self.row = re.compile(f"{fld}(?:{dl}{fld})*(?:\\r?\\n|\\Z)")
        self.fields = re.compile(f"({fld}){dl}")  # over `body + delimiter`: one C call
        self.section = re.compile(f"{q}({inside}){q}")
        if d.esc == d.quote:
            self.boundary = None  # quote parity is exact, and a C-speed count
        else:
            qb, eb = re.escape(d.quote.encode()), re.escape(d.esc.encode())
            self.boundary = re.compile(
                b"(?:[^" + qb + b"\\n]*(?:" + qb + b"[^" + qb + eb + b"]*(?:" + eb
                + b"[\\s\\S][^" + qb + eb + b"]*)*" + qb + b"[^" + qb + b"\\n]*)*\\n)*")


def _value(d: Dialect, p: _Patterns, text: str) -> str | None:
    if d.quote not in text:
        return None if text == d.null else text
    if d.esc == d.quote:
        q = d.quote
        if text[0] == q and text[-1] == q and len(text) > 1:  # the common case: all quoted
            inner = text[1:-1]
            if q not in inner.replace(q + q, ""):
                return inner.replace(q + q, q)
        return p.section.sub(lambda m: m[1].replace(d.quote * 2, d.quote), text)
    return p.section.sub(lambda m: p.unescape.sub(r"\1", m[1]), text)


def parse_fields(d: Dialect, row: str) -> list[str | None]:
    """The values of one complete row (its line end stripped), PostgreSQL's way."""
    body = row[:-2] if row.endswith("\r\n") else row[:-1] if row.endswith("\n") else row
    if d.quote not in body:
        return [None if v == d.null else v for v in body.split(d.delimiter)]
    p = d.patterns
    q, null = d.quote, d.null
    return [(None if v == null else v) if q not in v else _value(d, p, v)
            for v in p.fields.findall(body + d.delimiter)]


def csv_rows(d: Dialect, lines: Iterator[str], first_line: int) -> Iterator[Row]:
    """Every row of an iterator of lines; nothing is dropped.

    `csv.reader` (C) tokenizes; its verdict is PostgreSQL's exactly when the row has
    no doubled quote (`""` is either an escaped quote or a quoted empty string, which
    it cannot tell from NULL), no quote inside a value (a quote after text opens a
    section for PostgreSQL), no csv error and no quoted `--null`: any other row is
    re-read by `RowReader`, which implements the semantics above. With an escape
    character other than the quote, csv.reader cannot model it: `RowReader` reads all.
    """
    if d.esc != d.quote:
        yield from RowReader(d, _LinesRead(lines).read, first_line)
        return
    consumed: list[str] = []

    def feed() -> Iterator[str]:
        for text in lines:
            consumed.append(text)
            yield text

    reader = csv.reader(feed(), delimiter=d.delimiter, quotechar=d.quote, strict=True)
    q, qq, null = d.quote, d.quote * 2, d.null
    line = first_line
    while True:
        fields: list[str] | None
        try:
            fields = next(reader)
        except StopIteration:
            if consumed:
                yield from RowReader(d, io.StringIO("".join(consumed)).read, line)
            return
        except csv.Error:
            fields = None
        raw = "".join(consumed)
        count = len(consumed)
        consumed.clear()
        if raw.endswith("\r"):  # a lone CR: a line end for Python, data for PostgreSQL
            yield line, None, raw, "bad line end: carriage return in unquoted data"
        elif fields is not None and (q not in raw or _same_as_csv(fields, raw, q, qq, null)):
            yield line, [None if v == null else v for v in fields or ("",)], raw, None
        else:
            yield from RowReader(d, io.StringIO(raw).read, line)
        line += count


def _same_as_csv(fields: list[str], raw: str, q: str, qq: str, null: str) -> bool:
    """Whether csv.reader's values for this row (which has a quote) are the server's."""
    if qq in raw and "" in fields:
        return False  # a quoted empty string, or NULL: csv.reader cannot say which
    if null and null in fields:
        return False  # quoted or not: only the quoted one is a string
    if q in "\0".join(fields):  # a quote in a value: a doubled one inside a quoted field,
        for v in fields:        # or one after text, which opens a section for the server
            if q in v and q + v.replace(q, qq) + q not in raw:
                return False
    return True


class _LinesRead:
    """`read(size)` over an iterator of lines, for RowReader."""

    def __init__(self, lines: Iterator[str]) -> None:
        self.lines = lines

    def read(self, size: int) -> str:
        out: list[str] = []
        total = 0
        for text in self.lines:
            out.append(text)
            total += len(text)
            if total >= size:
                break
        return "".join(out)


Row = tuple[int, "list[str | None] | None", str, "str | None"]  # line, fields, raw, error


class TextWindow:
    """A window on a text stream: `buf[pos:]` is what is not yet consumed, and
    `refill` appends the next block (the row reader here and the loader's cursor)."""

    BLOCK_CHARS = 1 << 20  # text read per refill: large enough that refills are rare

    def __init__(self, read: Callable[[int], str]) -> None:
        self.read = read
        self.buf = ""
        self.pos = 0
        self.eof = False

    def refill(self) -> bool:
        if self.eof:
            return False
        data = self.read(self.BLOCK_CHARS)
        if not data:
            self.eof = True
            return False
        self.buf = self.buf[self.pos:] + data
        self.pos = 0
        return True


class RowReader(TextWindow):
    """Rows of a text stream: (first line, fields or None, raw text, error or None).

    Reads blocks of text and matches one row at a time with the dialect's row
    pattern; a row that does not match is rejected up to its line end, so bad
    quoting costs one line, not the rest of the file.
    """

    def __init__(self, dialect: Dialect, read: Callable[[int], str], first_line: int) -> None:
        super().__init__(read)
        self.dialect = dialect
        self.line = first_line

    def __iter__(self) -> Iterator[Row]:
        return self

    def __next__(self) -> Row:
        d, p = self.dialect, self.dialect.patterns
        while True:
            if self.pos >= len(self.buf) and not self.refill():
                raise StopIteration
            m = p.row.match(self.buf, self.pos)
            if m is not None and (m.end() < len(self.buf) or self.eof):
                raw = m[0]  # ends in a newline, or is the last row of the input
                self.pos = m.end()
                line = self.line
                self.line += raw.count("\n") + (0 if raw.endswith("\n") else 1)
                return line, parse_fields(d, raw), raw, None
            # The window ends inside this row (no newline yet, or a quoted section at a
            # field start still open): read more; else the row is malformed here.
            if not self.eof and (m is not None or self._open_section_to_end()
                                 or self.buf.find("\n", self.pos) < 0):
                self.refill()
                continue
            if self._open_section_to_end():
                raw = self.buf[self.pos:]
                self.pos = len(self.buf)
                line = self.line
                self.line += raw.count("\n") + (0 if raw.endswith("\n") else 1)
                return line, None, raw, "bad quoting: unterminated quoted field"
            nl = self.buf.find("\n", self.pos)
            stop = len(self.buf) if nl < 0 else nl + 1
            raw = self.buf[self.pos:stop]
            self.pos = stop
            line, self.line = self.line, self.line + 1
            reason = ("bad quoting: a quote after text in a field must close on its line"
                      if d.quote in raw else "bad line end: carriage return in unquoted data")
            return line, None, raw, reason

    def _open_section_to_end(self) -> bool:
        """Whether a section opened at a field start of this row runs past the window."""
        d, p = self.dialect, self.dialect.patterns
        pos = self.pos
        while True:
            m = p.field.match(self.buf, pos)
            assert m is not None
            end = m.end()
            if end < len(self.buf) and self.buf[end] == d.quote:
                # An open section at a field start may close later; mid-field, it may not.
                return end == pos and p.section.match(self.buf, end) is None
            if end < len(self.buf) and self.buf[end] == d.delimiter:
                pos = end + 1
                continue
            return False


# How far back from a window's end to look for a newline that ends a row (parity).
BOUNDARY_TRIES = 1000


def row_boundary(d: Dialect, data: bytes | bytearray | memoryview, end: int | None = None,
                 tries: int = BOUNDARY_TRIES) -> int | None:
    """Where the last complete row of `data[:end]` ends, or None if none is found.

    The data starts at a row boundary. With the quote as its own escape, a newline
    ends a row exactly when an even number of quotes precedes it (a doubled quote
    counts two); with another escape character, a regex walks the quoted sections
    in C (an escaped quote does not close one).
    """
    view = bytes(data[:end]) if isinstance(data, memoryview) else data
    stop = len(view) if end is None else end
    p = d.patterns
    if p.boundary is not None:
        m = p.boundary.match(view, 0, stop)
        return m.end() if m and m.end() > 0 else None
    q = d.quote.encode()
    newline = view.rfind(b"\n", 0, stop)
    quotes = view.count(q, 0, newline)
    for _ in range(tries):
        if newline < 0:
            return None
        if quotes % 2 == 0:
            return newline + 1
        previous = view.rfind(b"\n", 0, newline)
        quotes -= view.count(q, previous + 1, newline)
        newline = previous
    return None
