import xml.etree.ElementTree as ET

import pytest

from perflab.errors import ResultsFileError
from perflab.measure._profile import parse_strace_summary
from perflab.measure._stacks import (
    diff_shares,
    function_key,
    parse_folded,
    shares,
    speedscope_stacks,
    to_folded,
    to_speedscope,
)
from perflab.report._flamegraph import flamegraph_svg

FOLDED = """\
process 11:"python app.py";main (app.py:3);work (app.py:9) 6
process 11:"python app.py";main (app.py:3);io (app.py:20) 3
process 11:"python app.py";main (app.py:4) 1
"""


def test_folded_stacks_read_back_through_speedscope():
    stacks = parse_folded(FOLDED)
    assert stacks[('process "python app.py"', "main (app.py:3)", "work (app.py:9)")] == 6
    assert speedscope_stacks(to_speedscope(stacks, "app")) == stacks
    assert parse_folded(to_folded(stacks)) == stacks
    assert parse_folded(" 2\n") == {("(no Python frame)",): 2}


def test_a_command_line_with_newlines_is_one_frame():
    text = 'process 7:"python -c import os\nos.getpid()";<module> (<string>:2) 3\nmain 1\n'
    stacks = parse_folded(text)
    assert stacks == {('process "python -c import os os.getpid()"', "<module> (<string>:2)"): 3,
                      ("main",): 1}
    with pytest.raises(ResultsFileError, match=r":1:1: a command line's quotes"):
        parse_folded('process 7:"python -c x\n')


def test_a_bad_folded_line_names_its_place():
    with pytest.raises(ResultsFileError, match=r"<stacks>:2:11: expected"):
        parse_folded("a;b 1\nmain;work x\n")


def test_shares_are_by_function_and_count_recursion_once():
    s = shares({("f (a.py:1)", "f (a.py:2)"): 3, ("g (a.py:5)",): 1})
    assert s["f (a.py)"].total_share == 0.75 and s["f (a.py)"].self_share == 0.75
    assert function_key('process "/usr/bin/python3 -m x /tmp/1"') == "process (python3)"


def test_diff_puts_the_largest_change_first():
    old = parse_folded("main;work 8\nmain;io 2\n")
    new = parse_folded("main;work 2\nmain;io 8\n")
    changes = diff_shares(old, new)
    assert {c.function for c in changes[:2]} == {"work", "io"}
    work = next(c for c in changes if c.function == "work")
    assert work.self_delta == pytest.approx(-0.6)
    assert all(c.function != "main" for c in changes)  # 100% both times: unchanged


def test_flame_graphs_are_svg_with_a_tooltip_per_frame():
    stacks = parse_folded(FOLDED)
    root = ET.fromstring(flamegraph_svg(stacks, "t <&>"))
    titles = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert "work (app.py:9) (6 samples, 60.00%)" in titles
    diff = ET.fromstring(flamegraph_svg(parse_folded("main;io 8\nmain;work 2\n"), "d",
                                        base=parse_folded("main;work 8\nmain;io 2\n")))
    fills = {t.text.split(" (")[0]: r.get("fill") for g in diff
             for t, r in [(g.find("{*}title"), g.find("{*}rect"))] if t is not None}
    assert fills["io"] == "rgb(255,0,0)" and fills["work"] == "rgb(0,0,255)"
    assert fills["main"] == "rgb(255,255,255)"


def test_strace_summary_is_parsed_without_its_total():
    text = """\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 80.43    0.390124        4287        91        40 wait4
  2.81    0.013608           9      1418           openat
------ ----------- ----------- --------- --------- ----------------
100.00    0.485045          49      9876      1409 total
"""
    rows = parse_strace_summary(text)
    assert [(r.name, r.calls, r.errors) for r in rows] == [("openat", 1418, 0), ("wait4", 91, 40)]
