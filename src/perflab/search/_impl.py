"""The ladder of `perflab search`: each variant is the same tool with options switched.

`perflab search --impl NAME` picks one; the default is the last. The harness
measures them in this order, each against the one before it.
"""

from __future__ import annotations

__all__ = ["DEFAULT", "EAGER_MODULES", "IMPLS", "LADDER", "Impl"]


class Impl:
    """One ladder step's options. (A plain class: `dataclasses` would slow start-up.)"""

    __slots__ = ("compile_once", "description", "engine", "lazy_imports", "name", "openat",
                 "parallel", "walker")

    def __init__(
        self,
        name: str,
        description: str,
        *,
        compile_once: bool = True,
        walker: str = "scandir",  # "stat": os.walk + a stat per entry
        parallel: str = "processes",  # "none" | "threads" | "processes"
        lazy_imports: bool = True,
        engine: str = "buffer",  # "lines": text, regex per line | "buffer": bytes, whole buffer
        openat: bool = True,  # open files relative to their directory's descriptor
    ) -> None:
        self.name = name
        self.description = description
        self.compile_once = compile_once
        self.walker = walker
        self.parallel = parallel
        self.lazy_imports = lazy_imports
        self.engine = engine
        self.openat = openat


# What a first version imports at the top because some option might need it.
EAGER_MODULES = ("json", "base64", "concurrent.futures", "multiprocessing.pool")

LADDER = (
    Impl("baseline", "re.search per line, os.walk + stat per entry, text read, 1 thread",
         compile_once=False, walker="stat", parallel="none", lazy_imports=False, engine="lines"),
    Impl("compile-once", "compile the pattern once, call its .search per line",
         walker="stat", parallel="none", lazy_imports=False, engine="lines"),
    Impl("scandir", "scandir walk: types from the listing, no stat per file",
         parallel="none", lazy_imports=False, engine="lines"),
    Impl("threads", "walk and match in -j threads (the GIL serializes matching)",
         parallel="threads", lazy_imports=False, engine="lines"),
    Impl("processes", "walk and match in -j processes instead",
         parallel="processes", lazy_imports=False, engine="lines"),
    Impl("lazy-imports", "import only what this run uses (start-up)",
         lazy_imports=True, engine="lines"),
    Impl("prefilter", "bytes, literal prefilter (bytes.find), regex over whole buffer",
         openat=False),
    Impl("openat", "open files relative to a directory fd, one tight loop per directory"),
)
IMPLS = {impl.name: impl for impl in LADDER}
DEFAULT = LADDER[-1].name
