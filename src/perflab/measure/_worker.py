"""Child-process entry point: one measured execution of one variant.

`python -m perflab.measure._worker SPEC.json` imports the case, runs the
variant inside a `Collector` and writes `{"metrics": {...}}` to the output
path named in the spec (not stdout: a variant such as `search` prints its own
output there). A failure is written as `{"error": "..."}` and exits 1, so the
parent reports it instead of losing it.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import sys
import traceback
from pathlib import Path
from typing import Any


def load_case(ref: str) -> Any:
    """`module:ATTR`; a module beside the user (`perflab run --case mymodule:CASE`) is found
    as `python -m` would find it: the console script's path does not hold the working dir."""
    from perflab.errors import UsageError

    module_name, _, attr = ref.partition(":")
    try:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name.partition(".")[0] or os.getcwd() in sys.path:
                raise
            sys.path.insert(0, os.getcwd())
            module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise UsageError(f"case {ref!r}: no module named {exc.name!r}",
                         hint="run from the directory holding it, or set PYTHONPATH") from exc
    try:
        return getattr(module, attr or "CASE")
    except AttributeError:
        raise UsageError(f"case {ref!r}: module {module_name!r} has no {attr or 'CASE'!r}"
                         ) from None


def main(spec_path: str) -> int:
    import contextlib

    from perflab.measure._case import RunContext
    from perflab.measure._collectors import Collector
    from perflab.measure._timeline import Timeline

    spec = json.loads(Path(spec_path).read_text())
    out = Path(spec["out"])
    try:
        case = load_case(spec["case"])
        ctx = RunContext(spec["scale"], Path(spec["workdir"]), spec["params"])
        tracing = spec.get("trace_allocations", False)
        # The run's event timeline when the spec asks for one (see measure/_timeline.py).
        timeline = Timeline()
        recording = timeline if spec.get("timeline") else contextlib.nullcontext()
        with recording, Collector(trace_allocations=tracing) as collector:
            own = case.run(spec["variant"], ctx)
        # A value that could not be measured (NaN, e.g. the GC of a process the OOM killer
        # took) is left out: results.json stays strict JSON, and the table says "n/a".
        metrics = {k: v for k, v in {**collector.metrics, **{k: float(v) for k, v in own.items()}}
                   .items() if math.isfinite(v)}
        timeline_json = {"timeline": timeline.to_json()} if spec.get("timeline") else {}
        out.write_text(json.dumps({"metrics": metrics, **timeline_json}))
        return 0
    except Exception as exc:
        out.write_text(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        traceback.print_exc()
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
