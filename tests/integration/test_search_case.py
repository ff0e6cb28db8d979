"""The search case's ladder on a small corpus: every variant and reference finds
exactly what was planted (the case refuses fast wrong answers)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from perflab.errors import MeasurementError, ToolUnavailable
from perflab.measure import RunContext
from perflab.search import case as search_case
from perflab.search._corpus import ensure_checkout, ensure_corpus, searched_planted

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("search-case")
    corpus = ensure_corpus(workdir, 800)
    assert ensure_corpus(workdir, 800) == corpus  # made once, then reused
    ensure_checkout(corpus)
    literal_lines, regex_lines = searched_planted(corpus.files)
    # The .gitignore hides half of these 800 files (4 of the 8 top directories here).
    assert 0 < literal_lines < corpus.literal_lines and 0 < regex_lines < corpus.regex_lines
    empty = workdir / "empty"
    empty.mkdir()
    params = {"corpus": corpus.root, "empty": str(empty), "files": str(corpus.files),
              "bytes": str(corpus.bytes), "literal_lines": str(literal_lines),
              "regex_lines": str(regex_lines)}
    return RunContext("quick", workdir, params)


@pytest.mark.parametrize("variant", [v.name for v in search_case.CASE.variants])
def test_every_variant_finds_what_was_planted(ctx, variant):
    tool = {"ripgrep": "rg", "gnu-grep": "grep"}.get(variant)
    beside = Path(sys.executable).with_name(tool or "-")
    if tool and shutil.which(tool) is None and not beside.exists():
        with pytest.raises(ToolUnavailable):
            search_case.CASE.run(variant, ctx)
        return
    metrics = search_case.CASE.run(variant, ctx)
    assert set(metrics) == {"startup_s", "total_s", "total_regex_s", "search_s",
                            "files_per_s", "mb_per_s"}
    assert metrics["total_s"] >= metrics["search_s"] >= 0


def test_a_wrong_count_is_a_measurement_error(ctx):
    wrong = RunContext(ctx.scale, ctx.workdir, {**ctx.params, "literal_lines": "1"})
    with pytest.raises(MeasurementError, match="found"):
        search_case.CASE.run("prefilter", wrong)
