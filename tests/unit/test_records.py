import json

import pytest

from perflab.errors import ResultsFileError
from perflab.measure import SCHEMA, load, save


def test_round_trip_keeps_samples_and_contract(tmp_path, sample_results):
    path = tmp_path / "results.json"
    save(sample_results, path)
    raw = json.loads(path.read_text())
    assert raw["schema"] == SCHEMA == "perflab.results/1"
    variant = raw["cases"][0]["variants"][0]
    assert set(variant) >= {"name", "kind", "description", "metrics"}
    wall = variant["metrics"]["wall_s"]
    assert set(wall) >= {"unit", "median", "ci_low", "ci_high", "samples"}
    assert wall["samples"] == [10.0, 10.2, 9.8, 10.1, 9.9] and wall["median"] == 10.0

    again = load(path)
    assert again == sample_results or again.cases[0].variants == sample_results.cases[0].variants
    assert again.cases[0].table == list(sample_results.cases[0].table)
    assert again.cases[0].variant("absent").error == "ToolUnavailable: absent"


def test_missing_file(tmp_path):
    with pytest.raises(ResultsFileError, match=r"nope\.json: cannot read results file"):
        load(tmp_path / "nope.json")


def test_malformed_json_names_line_and_column(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"schema": "perflab.results/1",\n  "cases": [}\n')
    with pytest.raises(ResultsFileError) as info:
        load(path)
    assert str(info.value).startswith(f"{path}:2:")
    assert info.value.line == 2 and info.value.column == 13


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"schema": "other/1"}, "schema 'other/1' is not"),
        ({"schema": SCHEMA, "environment": {}}, "missing key 'cases'"),
        ({"schema": SCHEMA, "environment": {}, "cases": [{"name": "x", "scale": "quick",
          "variants": [{"name": "v", "kind": "bogus", "metrics": {}}]}]}, "unknown kind"),
        ({"schema": SCHEMA, "environment": {}, "cases": [{"name": "x", "scale": "quick",
          "variants": [{"name": "v", "kind": "step", "metrics": {"m": {"unit": "s",
                                                                      "samples": ["a"]}}}]}]},
         "expected numbers"),
    ],
)
def test_wrong_shape_is_a_clear_error(tmp_path, doc, message):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ResultsFileError, match=message):
        load(path)
