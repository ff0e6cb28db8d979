"""The HTML report, rendered by a real browser (headless Chromium)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from perflab.report import write_report

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


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


def test_report_tables_and_charts_render(browser, tmp_path, sample_results):
    page = tmp_path / "index.html"
    write_report(sample_results, page)
    # --dump-dom prints the DOM after the page has been parsed and laid out.
    dom = _render(browser, page, tmp_path, "--dump-dom").stdout
    assert dom.count('<table class="guide">') == 1
    assert dom.count('<table class="ladder">') == 2  # the first metric, and Rate (ladder=True)
    assert dom.count('<table class="references">') == 1
    assert "<td>75% less</td>" in dom
    assert dom.count("<svg") >= 1 and "halve" in dom

    shot = tmp_path / "shot.png"
    _render(browser, page, tmp_path, f"--screenshot={shot}", "--window-size=1200,1600")
    assert shot.stat().st_size > 10_000  # a blank page is a few KiB
