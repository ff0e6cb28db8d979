"""`perflab bench` and `perflab compare` on real commands whose difference is known."""

import contextlib
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass

import pytest

from perflab import cli
from perflab.measure import load
from perflab.measure._exports import load_any
from perflab.report import render_report

from ..conftest import REPO

pytestmark = pytest.mark.integration


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def perflab(*args):
    """The CLI in this process (the commands it times are real processes all the same):
    an interpreter start per call would cost more than the commands measured."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(args))
    return Ran(code, out.getvalue(), err.getvalue())


def test_the_console_command_runs_and_exits_as_documented(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "perflab", "bench", "true", "--runs", "2"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("Command")


# Sleeps 40 ms apart: a machine busy enough to blur 20 ms (a whole CI suite on 2 cores
# beside other work did once) still leaves the verdicts certain.
@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    out = tmp_path_factory.mktemp("scan")
    proc = perflab("bench", "-P", "t", "1", "9", "-D", "4", "sleep 0.0{t}", "--runs", "6",
                   "-w", "0",
                   "--export-json", str(out / "r.json"), "--export-csv", str(out / "r.csv"),
                   "--export-markdown", str(out / "r.md"), "--export-html", str(out / "r.html"))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, out


def test_a_scan_gives_one_benchmark_per_value_and_verdicts_against_the_first(scan):
    stdout, _ = scan
    rows = {line.split("  ")[0]: line for line in stdout.splitlines() if line.startswith("sleep")}
    assert list(rows) == ["sleep 0.01", "sleep 0.05", "sleep 0.09"]
    assert "baseline" in rows["sleep 0.01"]
    assert "x slower" in rows["sleep 0.05"] and "x slower" in rows["sleep 0.09"]


def test_every_export_reads_back(scan):
    _, out = scan
    from_json, from_csv = load(out / "r.json"), load_any(out / "r.csv")
    for results in (from_json, from_csv):
        (case,) = results.cases
        assert [v.name for v in case.variants] == ["sleep 0.01", "sleep 0.05", "sleep 0.09"]
        assert case.variants[1].description == "sleep 0.05 (t=5)"
        assert len(case.variants[2].metrics["wall_s"].samples) == 6
    assert (from_json.cases[0].variants[2].metrics["wall_s"].samples
            == from_csv.cases[0].variants[2].metrics["wall_s"].samples)
    page = render_report(from_csv)
    assert "sleep 0.09" in page and "<svg" in page
    assert "sleep 0.09" in (out / "r.html").read_text()
    md = (out / "r.md").read_text().splitlines()
    assert md[0].startswith("| Command | Wall Time") and len(md) == 5
    for a, b in (("r.json", "r.csv"), ("r.csv", "r.json")):
        proc = perflab("compare", str(out / a), str(out / b))
        assert proc.returncode == 0 and "bench/sleep 0.09" in proc.stdout


def _bench_named(tmp_path, name, command):
    path = tmp_path / f"{name}.json"
    proc = perflab("bench", "-n", "app", command, "--runs", "5", "-w", "0",
                   "--export-json", str(path))
    assert proc.returncode == 0, proc.stderr
    return path


def test_the_gate_fails_on_a_significant_regression_and_names_it(tmp_path):
    fast = _bench_named(tmp_path, "fast", "sleep 0.01")
    slow = _bench_named(tmp_path, "slow", "sleep 0.05")
    worse = perflab("compare", str(fast), str(slow), "--fail-on-regression", "5%")
    assert worse.returncode == 1
    assert "regression: bench/app wall_s" in worse.stderr
    # The gate on the metric the change moved: a sleep's CPU time (about a millisecond of
    # process start) drifts between two benches on a busy machine, whichever runs first.
    better = perflab("compare", str(slow), str(fast), "--fail-on-regression", "5%",
                     "--metric", "wall_s")
    assert better.returncode == 0, better.stderr
    assert "no metric significantly worse" in better.stdout
    # A threshold above the change lets it through.
    lenient = perflab("compare", str(fast), str(slow), "--fail-on-regression", "500%",
                      "--metric", "wall_s")
    assert lenient.returncode == 0


@pytest.mark.parametrize("threshold", ["five", "-3%"])
def test_the_gate_rejects_a_bad_threshold(tmp_path, threshold):
    empty = tmp_path / "r.json"
    empty.write_text(json.dumps({"schema": "perflab.results/1", "environment": {},
                                 "cases": []}))
    proc = perflab("compare", str(empty), str(empty), f"--fail-on-regression={threshold}")
    assert proc.returncode == 2 and proc.stderr.startswith("error: --fail-on-regression")


def test_a_malformed_csv_is_one_error_line_with_its_place(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("case,variant,kind,run,description,wall_s\n"
                   "bench,a,baseline,1,a,0.1\n"
                   "bench,a,baseline,2,a,fast\n")
    proc = perflab("compare", str(bad), str(bad))
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[0] == f"error: {bad}:3:22: expected a number, got 'fast'"
    hostile = tmp_path / "hostile.csv"
    hostile.write_text("wall_s\n1\n")
    proc = perflab("compare", str(hostile), str(hostile))
    assert proc.returncode == 2 and f"{hostile}:1:1: the header" in proc.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["-L", "x", "a,,b", "echo {x}"], "error: --parameter-list x: an empty value"),
    (["-P", "n", "1", "1e9", "echo {n}"], "makes more than 1000 values"),
    (["-P", "n", "one", "9", "echo {n}"], "error: --parameter-scan needs numbers"),
    (["-D", "2", "true"], "error: --parameter-step-size needs --parameter-scan"),
    (["-n", "a", "-n", "b", "true"], "error: 2 --command-name for 1 commands"),
    (["--runs", "1", "true"], "error: --runs must be at least 2"),
    (["echo 'unclosed"], None),  # shell syntax: sh -c reports it, the run exits non-zero
])
def test_bad_bench_input_is_one_error_line(args, message):
    ran = perflab("bench", *args)
    assert ran.returncode == 2
    first = ran.stderr.splitlines()[0]
    assert first.startswith("error: ") and (message is None or message in first)


def test_bench_errors_are_one_line(tmp_path):
    proc = perflab("bench", "no-such-command-perflab", "--runs", "2")
    assert proc.returncode == 2 and proc.stderr.startswith("error: cannot run")
    proc = perflab("bench", "false", "--runs", "2")
    assert proc.returncode == 2 and "exited 1" in proc.stderr and "--ignore-failure" in proc.stderr
