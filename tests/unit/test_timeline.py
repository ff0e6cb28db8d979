import gc
import json
import time

import pytest

from perflab.errors import ResultsFileError
from perflab.measure import LatencyHistogram, Results, RunOptions, run_case
from perflab.measure._records import from_json, to_json
from perflab.measure._timeline import MAX_EVENTS, Timeline, record_event
from perflab.report import render_report


def test_a_timeline_records_collections_and_a_case_s_own_events():
    record_event("request", time.perf_counter(), 1.0)  # no timeline running: ignored
    with Timeline() as timeline:
        gc.collect()
        started = time.perf_counter()
        record_event("request", started, 0.25, 200)
    (collection, *_) = [e for e in timeline.events["gc"] if e[2] == 2]
    assert collection[0] >= 0 and collection[1] > 0
    ((start, latency, status),) = timeline.events["request"]
    assert 0 <= start <= time.perf_counter() - timeline.origin and (latency, status) == (0.25, 200)
    assert timeline._on_gc not in gc.callbacks


def test_beyond_the_bound_a_uniform_sample_of_the_whole_run_is_kept():
    timeline = Timeline()
    for i in range(4 * MAX_EVENTS):
        timeline.add("request", float(i), 0.001)
    kept = sorted(e[0] for e in timeline.events["request"])
    assert len(kept) == MAX_EVENTS
    assert timeline.to_json()["dropped"] == {"request": 3 * MAX_EVENTS}
    late = sum(t >= 3 * MAX_EVENTS for t in kept)
    assert 0.2 * MAX_EVENTS < late < 0.3 * MAX_EVENTS  # the last quarter: about a quarter


def test_latency_histograms_feed_the_timeline():
    with Timeline() as timeline:
        LatencyHistogram().record_ns(2_000_000)
    ((start, latency, _),) = timeline.events["request"]
    assert latency == 0.002 and start >= -0.01


@pytest.fixture(scope="module")
def toy_with_timeline(tmp_path_factory):
    options = RunOptions(workdir=tmp_path_factory.mktemp("work"), repetitions=2, warmups=0,
                         variants=None)
    return run_case("tests.gccase:CASE", options)


def test_measured_runs_bring_their_timeline_home_and_the_report_draws_it(toy_with_timeline):
    case = toy_with_timeline
    assert set(case.timelines) == {"cycles", "few_cycles"}
    events = case.timelines["cycles"]["events"]
    assert len(events["gc"]) >= 10 and len(events["request"]) == 10
    again = from_json(json.loads(json.dumps(to_json(Results({}, [case])))))
    assert again.cases[0].timelines == case.timelines
    page = render_report(again)
    assert "<h3>Timeline</h3>" in page and "GCs," in page and "request latency" in page


def test_a_malformed_timeline_is_named(toy_with_timeline):
    data = to_json(Results({}, [toy_with_timeline]))
    data["cases"][0]["timelines"]["cycles"]["events"]["gc"] = [[0.1, "long", 0]]
    with pytest.raises(ResultsFileError, match=r"cases\[0\]\.timelines\.cycles\.events\.gc"):
        from_json(data, "r.json")
