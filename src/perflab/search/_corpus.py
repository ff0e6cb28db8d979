"""The benchmark corpus: a deterministic tree of source-like files, in a git checkout.

`quick`: 2,000 files (~17 MB: the whole ladder, slow steps included, fits the
case's minute); `full`: 100,000 files (about 0.9 GB), 1-16 KiB each, in nested
directories of about 100 files, like a large repository. Planted: the literal
`LITERAL` in about 1 file in 200, lines matching `REGEX` in about 1 in 100, a
few binary files (a NUL early) that contain both and print no line, some CRLF
and Latin-1 files. The tree is made once per scale and seed and reused; a
manifest records what it holds.

`ensure_checkout` makes the tree a git repository (`git init`, nothing
committed: ignore rules need only the repository) with a `.gitignore` that
excludes a fifth of it, the way build output and vendored code are excluded
in a real checkout; `searched_planted` counts what a search honouring it finds.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["IGNORED_TOPS", "LITERAL", "REGEX", "SCALES", "Corpus", "ensure_checkout",
           "ensure_corpus", "searched_planted"]

LITERAL = "parse_config_v2"
REGEX = r"ERR_[A-Z]+_[0-9]{3}"
SCALES = {"quick": 2_000, "full": 100_000}
# Top-level directories the .gitignore excludes: 4 of the 20 (`_top`), a fifth.
IGNORED_TOPS = ("pkg00", "pkg01", "pkg02", "pkg03")
# Written as the usual kinds of rule (anchored, directory-only, `/**`) beside
# rules that match nothing here, as a real .gitignore has: the second part is
# the common lines of GitHub's Python template, since a matcher's cost per file
# grows with the rules it must try (see _ignore.py).
GITIGNORE = """\
# build output and vendored trees
/pkg00/
/pkg01/
pkg02/
/pkg03/**
*.pyc
__pycache__/
!keep.pyc
.venv/
# Python
*.py[cod]
*$py.class
*.so
.Python
build/
develop-eggs/
dist/
downloads/
eggs/
.eggs/
lib64/
parts/
sdist/
wheels/
*.egg-info/
.installed.cfg
*.egg
MANIFEST
*.manifest
*.spec
pip-log.txt
htmlcov/
.tox/
.nox/
.coverage
.coverage.*
.cache
nosetests.xml
coverage.xml
*.cover
*.py,cover
.hypothesis/
.pytest_cache/
*.mo
*.pot
*.log
local_settings.py
db.sqlite3
instance/
docs/_build/
target/
.ipynb_checkpoints
.env
env/
venv/
/site
.mypy_cache/
.pyre/
cython_debug/
"""
FILES_PER_DIR = 100
VERSION = 1  # bump when the generator changes, so cached trees are remade

_WORDS = [
    "self",
    "return",
    "import",
    "from",
    "class",
    "def",
    "value",
    "result",
    "config",
    "buffer",
    "index",
    "count",
    "parse",
    "render",
    "request",
    "response",
    "handler",
    "client",
    "server",
    "token",
    "stream",
    "reader",
    "writer",
    "error",
    "timeout",
    "retry",
    "cache",
    "entry",
    "key",
    "items",
    "data",
    "path",
    "name",
    "size",
    "offset",
    "limit",
]
_TEMPLATES = (
    "{i}def {a}_{b}({c}, {d}=None):",
    "{i}{a} = {b}.{c}({d}, {n})",
    "{i}if {a} is not None and {b} > {n}:",
    "{i}return {a}[{b}:{c}]",
    "{i}# {a} the {b} before {c} so that {d} stays bounded",
    "{i}for {a} in {b}.{c}():",
    '{i}raise ValueError(f"bad {a}: {{{b}!r}}")',
    "{i}{a}.{b}.append(({c}, {d}))",
    '{i}logger.debug("%s %s", {a}, {b})',
    "",
)


@dataclass(frozen=True)
class Corpus:
    root: str
    files: int
    text_files: int
    bytes: int
    literal_lines: int
    regex_lines: int


def _line(rng: random.Random) -> str:
    words = rng.choices(_WORDS, k=4)
    indent = "    " * rng.randrange(4)
    template = rng.choice(_TEMPLATES)
    return template.format(
        i=indent, a=words[0], b=words[1], c=words[2], d=words[3], n=rng.randrange(1000)
    )


def _pool(rng: random.Random, size: int = 4000) -> list[str]:
    return [_line(rng) for _ in range(size)]


def ensure_corpus(base: Path, files: int, seed: int = 1) -> Corpus:
    root = base / f"corpus-{files}-{seed}-v{VERSION}"
    manifest = root.with_suffix(".json")
    if manifest.exists():
        return Corpus(**json.loads(manifest.read_text()))
    rng = random.Random(seed)
    pool = _pool(rng)
    text_files = total = literal_lines = regex_lines = 0
    for index in range(files):
        d = index // FILES_PER_DIR
        directory = root / _top(index) / f"mod{d // 20 % 10}" / f"part{d // 200:03d}"
        if index % FILES_PER_DIR == 0:
            directory.mkdir(parents=True, exist_ok=True)
        target = rng.randrange(1024, 16 * 1024)
        lines: list[str] = []
        size = 0
        while size < target:
            line = rng.choice(pool)
            lines.append(line)
            size += len(line) + 1
        planted_literal, planted_regex = _has_literal(index), _has_regex(index)
        if planted_literal:
            lines[rng.randrange(len(lines))] += f"  # uses {LITERAL}()"
        if planted_regex:
            lines[rng.randrange(len(lines))] = f'    raise Failure("ERR_CONFIG_{index % 1000:03d}")'
        text = "\n".join(lines) + "\n"
        if _is_binary(index):  # binary: a NUL early; holds both patterns, must be skipped
            data = b"\x7fELF\x00\x01" + text.encode() + f"{LITERAL} ERR_BIN_001\n".encode()
            (directory / f"blob{index}.bin").write_bytes(data)
            total += len(data)
            continue
        if index % 50 == 11:
            data = text.replace("\n", "\r\n").encode()
        elif index % 70 == 13:
            data = (text + "# caf\xe9 na\xefve\n").encode("latin-1")
        else:
            data = text.encode()
        (directory / f"file{index}.py").write_bytes(data)
        text_files += 1
        literal_lines += planted_literal
        regex_lines += planted_regex
        total += len(data)
    corpus = Corpus(str(root), files, text_files, total, literal_lines, regex_lines)
    manifest.write_text(json.dumps(asdict(corpus)))
    return corpus


def _top(index: int) -> str:
    return f"pkg{index // FILES_PER_DIR % 20:02d}"


def _has_literal(index: int) -> bool:
    return index % 200 == 7


def _has_regex(index: int) -> bool:
    return index % 100 == 3


def _is_binary(index: int) -> bool:
    return index % 997 == 5


def searched_planted(files: int) -> tuple[int, int]:
    """Planted (literal, regex) lines outside the ignored directories, in text files."""
    kept = [i for i in range(files) if not _is_binary(i) and _top(i) not in IGNORED_TOPS]
    return sum(map(_has_literal, kept)), sum(map(_has_regex, kept))


def ensure_checkout(corpus: Corpus) -> None:
    """Make the corpus a git repository whose .gitignore excludes `IGNORED_TOPS`."""
    import shutil
    import subprocess

    root = Path(corpus.root)
    if not (root / ".git").exists():
        if shutil.which("git"):
            subprocess.run(["git", "init", "-q", str(root)], check=True)
        else:  # what rg and perflab look for to honour .gitignore is the directory
            (root / ".git").mkdir()
    ignore = root / ".gitignore"
    if not ignore.exists() or ignore.read_text() != GITIGNORE:
        ignore.write_text(GITIGNORE)
