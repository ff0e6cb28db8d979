"""`perflab profile`: py-spy of a forked-worker case, a profile diff, the syscall table."""

import contextlib
import io
import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from perflab import cli
from perflab.measure._stacks import load_stacks

from .test_report_browser import _render, browser  # noqa: F401  (a fixture)

pytestmark = pytest.mark.integration

# More samples per second of test than py-spy's default: the diff's shares are steadier.
RATE = 250


def perflab(*args):
    """`perflab profile` in this process (py-spy, strace and the worker are real processes)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["profile", *args])
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


@pytest.fixture(scope="module")
def spin(tmp_path_factory):
    out = tmp_path_factory.mktemp("spin")
    proc = perflab("tests.forkcase:CASE", "--variant", "spin", "--subprocesses",
                   "--rate", str(RATE), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, out


def test_a_forked_worker_case_is_sampled_into_both_files(spin):
    stdout, out = spin
    assert "Time breakdown" in stdout and "spinning" in stdout  # the cProfile part stays
    svg = ET.parse(out / "flamegraph.svg").getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    titles = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}title")]
    # The forked workers' own function: only there when py-spy followed the fork.
    assert any(t.startswith("spin (tests/forkcase.py") for t in titles)
    speedscope = json.loads((out / "profile.speedscope.json").read_text())
    assert speedscope["profiles"][0]["type"] == "sampled"
    names = {f["name"] for f in speedscope["shared"]["frames"]}
    assert any(n.startswith("spin (tests/forkcase.py") for n in names)
    assert load_stacks(out / "profile.speedscope.json") == load_stacks(out / "profile.folded")
    page = (out / "index.html").read_text()
    assert "Time breakdown" in page and '<img src="flamegraph.svg"' in page


def test_the_flame_graph_opens_in_chromium(spin, browser, tmp_path):  # noqa: F811
    _, out = spin
    dom = _render(browser, out / "flamegraph.svg", tmp_path, "--dump-dom").stdout
    assert "spin (tests/forkcase.py" in dom


def test_a_diff_names_the_function_whose_share_fell(spin, tmp_path):
    _, base = spin
    proc = perflab("tests.forkcase:CASE", "--variant", "spin-less", "--subprocesses",
                   "--rate", str(RATE), "--top", "50", "--out", str(tmp_path),
                   "--base", str(base / "profile.speedscope.json"))
    assert proc.returncode == 0, proc.stderr
    table = proc.stdout.split("share of samples:")[1].splitlines()
    rows = {line.split("  ")[0]: line.split() for line in table[2:] if "(" in line}
    assert float(rows["spin (tests/forkcase.py)"][-4]) < 0  # self points
    assert float(rows["rest (tests/forkcase.py)"][-1]) > 0  # total points
    diff = ET.parse(tmp_path / "diff.svg").getroot()
    rest = [g for g in diff if (t := g.find("{*}title")) is not None
            and t.text.startswith("rest (tests/forkcase.py)")]
    # New in this profile: its share grew from none, so it is drawn red (the colours of
    # every case are checked on hand-made stacks in tests/unit/test_stacks.py).
    assert rest and rest[0].find("{*}rect").get("fill").startswith("rgb(255,")
    # The base may live in --out itself: it is read before the new profile replaces it.
    again = perflab("tests.forkcase:CASE", "--variant", "spin-less", "--subprocesses",
                    "--out", str(tmp_path), "--base", str(tmp_path / "profile.folded"))
    assert again.returncode == 0 and "share of samples:" in again.stdout


def test_a_bad_base_is_one_error_line(tmp_path):
    bad = tmp_path / "old.json"
    bad.write_text('{"shared": {"frames": []}, "profiles": [{"type": "evented"}]}')
    proc = perflab("--cmd", f"{sys.executable} -c pass", "--out", str(tmp_path),
                   "--base", str(bad))
    assert proc.returncode == 2 and proc.stderr.startswith(f"error: {bad}: a 'evented'")


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_syscalls_are_counted_in_a_table(tmp_path):
    # Long enough for py-spy to attach: it can fail on a program gone within milliseconds.
    code = "import os\nfor _ in range(500): os.getppid()\nsum(range(10**7))"
    proc = perflab("--cmd", f"{sys.executable} -c '{code}'", "--syscalls", "--out",
                   str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    table = proc.stdout.split("system calls (strace -c -f")[1]
    getppid = next(line for line in table.splitlines() if line.startswith("getppid"))
    assert int(getppid.split()[1]) >= 500
    assert "total" in table
    assert "<td>getppid</td>" in (tmp_path / "index.html").read_text()


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_syscalls_of_every_variant_get_a_column_each(tmp_path):
    proc = perflab("tests.toycase:CASE", "--variant", "faster", "--syscalls=all",
                   "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    table = proc.stdout.split("system calls per variant")[1].splitlines()
    assert table[1].split() == ["Syscall", "baseline", "faster", "noop"]
    total = next(line for line in table if line.startswith("total")).split()
    assert all(int(n) > 100 for n in total[1:])  # an interpreter's start-up alone


def test_trace_alloc_reports_the_tracemalloc_peak(tmp_path):
    proc = perflab("tests.toycase:CASE", "--variant", "faster", "--trace-alloc",
                   "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("tracemalloc peak"))
    assert line.endswith(("KiB", "MiB", " B"))
    assert "memray allocation flame graph:" in proc.stdout
