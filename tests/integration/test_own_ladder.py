"""docs/bench.md's own-ladder example, extracted from the page and run as written."""

import re
import subprocess

import pytest

from perflab.cases import perflab_command
from perflab.measure import load

from ..conftest import REPO

pytestmark = pytest.mark.integration


def documented_example() -> str:
    page = (REPO / "docs" / "bench.md").read_text()
    match = re.search(r"<!-- example: mymodule.py -->\n```python\n(.*?)```", page, re.S)
    assert match, "docs/bench.md lost its example"
    return match.group(1)


def test_the_documented_example_runs_as_written(tmp_path):
    source = documented_example()
    assert len(source.splitlines()) <= 32  # "about 20 lines" of code, blank lines aside
    (tmp_path / "mymodule.py").write_text(source)
    out = tmp_path / "out"
    # The console script, from the module's directory: what the page tells a user to type.
    proc = subprocess.run([*perflab_command(), "run", "--case", "mymodule:CASE", "-r", "2",
                           "--warmups", "0", "--out", str(out), "--no-report"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Before (concat)" in proc.stdout and "After (join)" in proc.stdout
    (case,) = load(out / "results.json").cases
    assert [v.name for v in case.variants] == ["concat", "join_generator", "join"]
    assert case.variants[0].description == "+= in a loop"
    assert all(len(v.metrics["time_s"].samples) == 2 for v in case.variants)


def test_a_missing_module_is_one_error_line(tmp_path):
    proc = subprocess.run([*perflab_command(), "run", "--case", "nosuchmodule:CASE",
                           "--no-report", "--out", str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "error: case 'nosuchmodule:CASE': no module named 'nosuchmodule'" in proc.stderr
