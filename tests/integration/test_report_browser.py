"""The HTML report, rendered by a real browser (headless Chromium), narrow and wide."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess

import pytest

from perflab.report import render_report

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Headless Chromium lays a window out no narrower than 500 CSS px: a phone held upright
# is a little narrower, a split-screen laptop window about this.
NARROW, WIDE = 500, 1400

# Run in the page after layout: what was rendered, and whether anything sticks out.
PROBE = """<script>
(() => {
  const vw = document.documentElement.clientWidth;
  const box = el => el.getBoundingClientRect();
  const visible = el => box(el).width > 0 && box(el).height > 0;
  const out = {
    viewport: vw,
    page_width: document.documentElement.scrollWidth,
    tables: {},
    svgs: [...document.querySelectorAll("figure svg")].map(s => [box(s).width, box(s).height]),
    outside: [...document.querySelectorAll("body *")]
      .filter(el => !el.closest(".scroll") && box(el).right > vw + 0.5)
      .map(el => el.tagName + "." + el.className),
  };
  for (const t of document.querySelectorAll("table")) {
    const k = t.className;
    out.tables[k] = (out.tables[k] || 0) + (visible(t) ? 1 : 0);
  }
  out.first_h2 = document.querySelector("h2").textContent;
  document.body.insertAdjacentHTML("beforeend",
    "<pre id=probe>" + JSON.stringify(out).replace(/</g, "\\\\u003c") + "</pre>");
})();
</script>"""


@pytest.fixture
def browser():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (.ci/run installs it)")
        pytest.skip("chromium is not installed")
    return CHROMIUM


def _render(browser, path, tmp_path, *extra):
    cmd = [browser, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *extra, path.as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("width", [NARROW, WIDE], ids=["narrow", "wide"])
def test_report_renders_summary_tables_and_charts_without_overflow(
        browser, tmp_path, sample_results, width):
    page = tmp_path / "index.html"
    page.write_text(render_report(sample_results).replace("</body>", PROBE + "</body>"))
    dom = _render(browser, page, tmp_path, f"--window-size={width},1200", "--dump-dom").stdout
    probe = json.loads(re.search(r"<pre id=\"probe\">(.*?)</pre>", dom, re.S).group(1))

    assert width - 20 <= probe["viewport"] <= width  # less a vertical scroll bar
    assert probe["first_h2"] == "Summary"  # the report opens with the summary
    # rendered (not just present): the summary, the guide table and references in it,
    # a ladder table for the first metric and for Rate (ladder=True)
    assert probe["tables"] == {"summary": 1, "guide": 1, "references": 1, "ladder": 2}
    assert len(probe["svgs"]) == 2 and all(w > 100 and h > 50 for w, h in probe["svgs"])
    assert all(w <= width for w, _ in probe["svgs"])  # charts scale to the window
    assert probe["page_width"] <= width, "the page scrolls sideways"
    assert probe["outside"] == []
    assert "<td>75% less</td>" in dom and "halve" in dom
    assert "peer: 0.50x (worse); absent: not available" in dom

    shot = tmp_path / f"shot-{width}.png"
    _render(browser, page, tmp_path, f"--screenshot={shot}", f"--window-size={width},1600")
    assert shot.stat().st_size > 10_000  # a blank page is a few KiB


@pytest.mark.parametrize("width", [NARROW, WIDE], ids=["narrow", "wide"])
def test_the_memory_chart_renders_and_scales(browser, tmp_path, sample_results, width):
    mib = 2**20
    memory = {"events": {"memory": [[t / 10, 0.0, (20 + 24 * t) * mib] for t in range(11)],
                         "memory_limit": [[0.0, 1.0, 256.0 * mib]],
                         "oom_kill": [[0.95, 0.0, 1.0]]}}
    case = dataclasses.replace(sample_results.cases[0], timelines={"baseline": memory})
    page = tmp_path / "index.html"
    page.write_text(render_report(dataclasses.replace(sample_results, cases=[case]))
                    .replace("</body>", PROBE + "</body>"))
    dom = _render(browser, page, tmp_path, f"--window-size={width},1200", "--dump-dom").stdout
    probe = json.loads(re.search(r"<pre id=\"probe\">(.*?)</pre>", dom, re.S).group(1))
    assert "Memory over time" in dom
    # the ladder charts, the memory chart, the timeline (its lane of 0 GCs)
    assert len(probe["svgs"]) == 4 and all(w > 100 and h > 50 for w, h in probe["svgs"])
    assert all(w <= width for w, _ in probe["svgs"])
    assert probe["page_width"] <= width and probe["outside"] == []
