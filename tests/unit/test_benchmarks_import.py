"""Every script under benchmarks/ imports: a name it takes from perflab still exists.

Benchmarks run by hand, outside the suite (a timing is never an assertion), so
a renamed function would otherwise break one silently until someone runs it.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest

from ..conftest import REPO

SCRIPTS = sorted((REPO / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_benchmark_imports(script, monkeypatch):
    monkeypatch.syspath_prepend(str(script.parent))
    spec = importlib.util.spec_from_file_location(f"_bench_{script.stem}", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)  # definitions only: each runs under __main__
    assert callable(getattr(module, "main", None))
