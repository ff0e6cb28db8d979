"""Generated regions: the docs' figures are what the kept results give, and nothing else."""

from __future__ import annotations

import dataclasses

import pytest

from perflab import cli
from perflab.commands.report import default_pages
from perflab.errors import InputError
from perflab.measure import Results, save
from perflab.report._regions import KeptResults, find_regions, regenerate, stale_regions
from tests.conftest import REPO


@pytest.mark.parametrize("page", default_pages(REPO), ids=lambda p: p.name)
def test_every_marked_region_is_what_the_kept_results_give(page):
    """Red after a hand edit of a generated figure, or new kept results: run `make docs`."""
    assert stale_regions(page, KeptResults(REPO)) == []


def _kept(tmp_path, results: Results, name: str) -> None:
    save(results, tmp_path / "results" / name / "results.json")


PAGE = """# Demo

```
<!-- perflab:generated case=demo table=guide -->
an example in a code block: left alone
<!-- perflab:end -->
```

<!-- perflab:generated case=demo table=guide -->
<!-- perflab:end -->

Prose stays.

<!-- perflab:generated case=demo table=ladder metric=wall_s -->
<!-- perflab:end -->
<!-- perflab:generated table=summary -->
<!-- perflab:end -->
<!-- perflab:generated table=amdahl fractions=0.4,0.4 speedups=10,inf -->
<!-- perflab:end -->
"""


def test_regenerate_fills_regions_and_a_hand_edit_is_caught(tmp_path, sample_results):
    _kept(tmp_path, sample_results, "2026-11-27T0000Z-host-abc1234")
    page = tmp_path / "docs" / "demo.md"
    page.parent.mkdir()
    kept = KeptResults(tmp_path)
    page.write_text(regenerate(PAGE, page, kept))
    text = page.read_text()
    assert "| Total Time | 10 s ±2% | 5.02 s ±2% | 1.99x |" in text
    assert "| halve | half the work | 5 s ±2% | 2.00x | 2.00x | p=0.008 |" in text
    assert "peer: 0.50x (worse); absent: not available" in text
    assert "| 40% | 10.00x | 1.56x | 1.67x |" in text and "| 40% | removed | 1.67x |" in text
    assert "(../results/2026-11-27T0000Z-host-abc1234/results.json)" in text
    assert "Prose stays." in text and "an example in a code block: left alone" in text
    assert stale_regions(page, kept) == []
    assert regenerate(text, page, kept) == text  # idempotent

    page.write_text(text.replace("| 1.99x |", "| 2.10x |", 1))  # a hand edit
    assert [s.split(": ", 1)[1] for s in stale_regions(page, kept)] == [
        "region case=demo table=guide differs from the kept results"]


def test_newest_kept_directory_with_the_case_unless_one_is_named(tmp_path, sample_results):
    old = sample_results
    case = dataclasses.replace(old.cases[0], notes=["newer"])
    _kept(tmp_path, old, "2026-11-27T0000Z-host-aaaaaaa")
    _kept(tmp_path, Results(old.environment, [case]), "2026-11-28T0000Z-host-bbbbbbb")
    _kept(tmp_path, Results(old.environment, []), "2026-11-29T0000Z-host-ccccccc")  # no demo
    kept = KeptResults(tmp_path)
    assert kept.find("demo", None)[0].name == "2026-11-28T0000Z-host-bbbbbbb"
    pinned = kept.find("demo", "results/2026-11-27T0000Z-host-aaaaaaa")
    assert pinned[1].notes == ("a note",)
    assert kept.find("nope", None) is None
    page = tmp_path / "README.md"
    text = regenerate("<!-- perflab:generated case=nope table=guide -->\n<!-- perflab:end -->",
                      page, kept)
    assert "No kept results for case `nope`" in text


@pytest.mark.parametrize(("marker", "message"), [
    ("<!-- perflab:generated case=demo table=pie -->\n<!-- perflab:end -->", "table must be"),
    ("<!-- perflab:generated table=guide -->\n<!-- perflab:end -->", "needs case=NAME"),
    ("<!-- perflab:generated case=demo table=guide -->\nno end", "no <!-- perflab:end -->"),
    ("<!-- perflab:generated case demo table=guide -->\n<!-- perflab:end -->", "key=value"),
])
def test_malformed_markers_name_the_line_and_column(marker, message):
    with pytest.raises(InputError, match=message) as info:
        list(find_regions("# t\n\n  " + marker, "page.md"))
    assert str(info.value).startswith("page.md:3:3: ")


def test_a_pinned_directory_that_is_not_kept_names_the_page_line(tmp_path):
    page = tmp_path / "README.md"
    page.write_text("# t\n<!-- perflab:generated case=demo table=guide results=results/gone -->\n"
                    "<!-- perflab:end -->\n")
    with pytest.raises(InputError, match=r"README\.md:2:1: .*results=results/gone"):
        stale_regions(page, KeptResults(tmp_path))


def test_report_command_writes_markdown_and_checks_docs(tmp_path, sample_results, capsys):
    _kept(tmp_path, sample_results, "2026-11-27T0000Z-host-abc1234")
    results = tmp_path / "results" / "2026-11-27T0000Z-host-abc1234" / "results.json"
    assert cli.main(["report", str(results), "--markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# perflab results") and "| demo | Total Time |" in out
    page = tmp_path / "README.md"
    page.write_text(PAGE)
    assert cli.main(["report", "--docs", "--check", "--root", str(tmp_path)]) == 1
    assert "README.md:9: region case=demo table=guide" in capsys.readouterr().err
    assert cli.main(["report", "--docs", "--root", str(tmp_path)]) == 0
    assert cli.main(["report", "--docs", "--check", "--root", str(tmp_path)]) == 0


def test_verdicts_side_by_side(tmp_path, sample_results, capsys):
    from perflab.measure import MetricSamples

    case = sample_results.cases[0]
    noop = case.variant("noop")
    faster = dataclasses.replace(noop, metrics={
        **noop.metrics, "wall_s": MetricSamples("s", (2.0, 2.1, 1.9, 2.05, 1.95))})
    other = dataclasses.replace(case, scale="full", variants=[
        faster if v.name == "noop" else v for v in case.variants])
    save(sample_results, tmp_path / "quick.json")
    save(Results({}, [other]), tmp_path / "full.json")
    status = cli.main(["report", "--verdicts", str(tmp_path / "quick.json"),
                       str(tmp_path / "full.json")])
    out = capsys.readouterr().out
    assert status == 1
    assert "Verdict (quick)  Verdict (full)" in out
    rows = {tuple(line.split()[:4]): line for line in out.splitlines() if line.startswith("demo")}
    assert rows[("demo", "halve", "baseline", "Total")].endswith("same")
    assert "DIFFERS" in rows[("demo", "noop", "halve", "Total")]  # ~ at quick, 2.50x at full
    assert rows[("demo", "noop", "halve", "Rate")].endswith("same")
    assert "of 6 verdicts the same" in out



def test_a_verdicts_region_sets_a_quick_run_beside_a_full_one(tmp_path, sample_results):
    from perflab.measure import MetricSamples

    case = sample_results.cases[0]
    noop = case.variant("noop")
    faster = dataclasses.replace(noop, metrics={
        **noop.metrics, "wall_s": MetricSamples("s", (2.0, 2.1, 1.9, 2.05, 1.95))})
    full = dataclasses.replace(case, scale="full", variants=[
        faster if v.name == "noop" else v for v in case.variants])
    _kept(tmp_path, sample_results, "2026-11-27T0000Z-host-abc1234-quick")
    _kept(tmp_path, Results({}, [full]), "2026-11-27T0100Z-host-abc1234-full")
    page = tmp_path / "docs" / "measurement.md"
    page.parent.mkdir()
    marker = ("<!-- perflab:generated table=verdicts case=demo "
              "quick=results/2026-11-27T0000Z-host-abc1234-quick "
              "full=results/2026-11-27T0100Z-host-abc1234-full -->\n<!-- perflab:end -->\n")
    text = regenerate(marker, page, KeptResults(tmp_path))
    assert "| Step | Against | Metric | Verdict (quick) | Verdict (full) |" in text
    assert "| noop | halve | Total Time | ~ |" in text and "| DIFFERS |" in text
    assert "_4 of 6 verdicts the same; from [results/2026-11-27T0000Z-host-abc1234-quick]" in text
    with pytest.raises(InputError, match="needs full=results/DIR"):
        regenerate(marker.replace(" full=", " other="), page, KeptResults(tmp_path))

def test_a_kept_benchmark_is_shown_by_a_values_region(tmp_path):
    from perflab.measure import Metric, keep_benchmark

    path = keep_benchmark("probe", "A probe", [Metric("wall_s", "Wall", "s")],
                          {"a": ("first", {"wall_s": [0.001] * 5}),
                           "b": ("second", {"wall_s": [0.002] * 5})},
                          root=tmp_path / "results")
    assert path.name == "results.json" and path.parent.name.endswith("-probe")
    page = tmp_path / "README.md"
    text = regenerate("<!-- perflab:generated case=probe table=values -->\n"
                      "<!-- perflab:end -->\n", page, KeptResults(tmp_path))
    assert "| a | first | 1 ms ±0% |" in text and "| b | second | 2 ms ±0% |" in text
    assert "benchmark scale" in text
