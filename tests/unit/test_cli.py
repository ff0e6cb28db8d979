import json
import os
import subprocess
import sys

import pytest

from perflab import __version__, cases, cli
from perflab.measure import CaseResult, Results, VariantResult, save

from ..conftest import REPO


def perflab(*args, cwd=None, input=None):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "perflab", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, input=input)


def test_version_and_help():
    assert perflab("--version").stdout.strip() == f"perflab {__version__}"
    out = perflab("--help").stdout
    for name in cli.COMMANDS:
        assert f"  {name}" in out


def test_unknown_command_exits_2():
    proc = perflab("frobnicate")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_commands_are_imported_lazily():
    code = ("import sys; from perflab import cli; "
            "print(sorted(m for m in sys.modules if m.startswith('perflab.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert out.strip() == "['perflab.cli']"


def test_amdahl_prints_the_formula_not_the_guide():
    proc = perflab("amdahl", "--fraction", "0.4", "--speedup", "10")
    assert proc.returncode == 0
    assert "1.562x overall" in proc.stdout and "1.667x overall" in proc.stdout


def test_domain_error_is_one_line_and_exit_2(tmp_path):
    proc = perflab("compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"error: {tmp_path / 'a.json'}: cannot read results file: No such file or directory"
    ]


def test_malformed_results_file_names_line_and_column(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "schema": oops\n}\n')
    proc = perflab("compare", str(bad), str(bad))
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1
    assert proc.stderr.startswith(f"error: {bad}:2:13: not valid JSON")


def test_usage_error_has_a_hint():
    proc = perflab("run", "--case", "nosuchcase")
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[0] == "error: unknown case 'nosuchcase'"
    assert proc.stderr.splitlines()[1].startswith("hint: cases:")


def test_closed_pipe_is_not_a_traceback(tmp_path, sample_case):
    many = [VariantResult(f"v{i}", "step", "", sample_case.variants[0].metrics)
            for i in range(2000)]
    big = Results({}, [CaseResult("big", "Big", "quick", many, sample_case.table)])
    save(big, tmp_path / "big.json")
    cmd = f"{sys.executable} -m perflab compare big.json big.json | head -1"
    proc = subprocess.run(["sh", "-c", cmd], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout.strip() == "allocated_blocks (lower is better)" or proc.stdout
    assert proc.stderr == ""


def test_run_with_no_registered_case_says_so(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(cases, "REGISTRY", {})
    assert cli.main(["run", "--out", str(tmp_path)]) == 0
    assert "no case studies are registered yet" in capsys.readouterr().err


def test_run_end_to_end_writes_results_and_report(tmp_path):
    proc = perflab("run", "--case", "tests.toycase:CASE", "-r", "3", "--warmups", "0",
                   "--out", str(tmp_path / "out"), "--workdir", str(tmp_path / "work"))
    assert proc.returncode == 0, proc.stderr
    assert "Toy case (toy, quick scale)" in proc.stdout
    assert "Operations" in proc.stdout and "Improvement" in proc.stdout
    # progress, one line per execution off a tty: case, step, time left
    assert "case 1/1 toy: rep 2/3, step 2/4 faster" in proc.stderr
    assert "left" in proc.stderr
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert data["cases"][0]["elapsed_s"] > 0 and data["elapsed_s"] > 0
    assert "| Case | Metric |" in (tmp_path / "out" / "summary.md").read_text()
    assert data["schema"] == "perflab.results/1"
    assert data["environment"]["cpu_count"] == os.cpu_count()
    assert "<svg" in (tmp_path / "out" / "index.html").read_text()


def test_profile_prints_top_functions_and_breakdown(tmp_path):
    proc = perflab("profile", "tests.toycase:CASE", "--variant", "baseline",
                   "--workdir", str(tmp_path), "--out", str(tmp_path / "profile"))
    assert proc.returncode == 0, proc.stderr
    assert "Time breakdown" in proc.stdout
    assert any(line.startswith("loop ") for line in proc.stdout.splitlines())


@pytest.mark.parametrize("variant", ["nope", "missing-tool"])
def test_profile_unknown_variant(tmp_path, variant):
    proc = perflab("profile", "tests.toycase:CASE", "--variant", variant,
                   "--workdir", str(tmp_path))
    assert proc.returncode == 2 and "has no variant" in proc.stderr
