"""The HTML report in a real Chromium (Debian's chromium + chromedriver through selenium): the interactive charts
render offline from the one file, hovering a point shows its row, and no two labels on the page's charts overlap
(counted from the browser's own layout boxes); a screenshot shows a page that is not blank."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edgebench.report.html import render_html
from edgebench.report.plots import all_plots
from tests.report_study_rows import study_rows

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")

COUNT_OVERLAPS = """
const boxes = Array.from(document.querySelectorAll('div.interactive g.annotation'))
  .map(a => a.getBoundingClientRect()).filter(b => b.width > 0);
let overlaps = 0;
for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
  const a = boxes[i], b = boxes[j];
  if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) overlaps++;
}
return [boxes.length, overlaps, document.querySelectorAll('div.interactive .main-svg').length];
"""


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,2000"):
        options.add_argument(flag)
    options.binary_location = CHROMIUM
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    yield driver
    driver.quit()


def _page(tmp_path: Path, devices) -> Path:
    rows = study_rows(devices=devices)
    runs = [{"_device": r.device, "_model": r.model, "artifact": r.artifact, "config": r.config,
             "setting": {"threads": r.threads},
             "latency_ms": {"p50": r.p50_ms, "min": 0.9 * r.p50_ms, "p90": r.p90_ms, "p99": 1.3 * r.p50_ms}}
            for r in rows]
    path = tmp_path / "report.html"
    path.write_text(render_html(rows, [], [], all_plots(rows, runs)))
    return path


@pytest.mark.parametrize("devices", [("x86-host",), pytest.param(("x86-host", "pi5"), marks=pytest.mark.slow)])
def test_report_charts_render_offline_with_no_overlapping_labels(browser, tmp_path, devices):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    page = _page(tmp_path, devices)
    text = page.read_text()
    assert "<script src=" not in text and "<link" not in text  # one file: nothing fetched
    browser.get(page.as_uri())
    WebDriverWait(browser, 30).until(
        lambda d: d.execute_script("return document.querySelectorAll('div.interactive .main-svg').length") >= 4)
    labels, overlaps, svgs = browser.execute_script(COUNT_OVERLAPS)
    assert labels >= 4 and overlaps == 0
    assert svgs >= 4  # two charts, each with its plot and its hover layer
    # Hover shows the row: move onto the fastest int8 point's marker and read Plotly's hover label.
    from selenium.webdriver.common.action_chains import ActionChains

    points = browser.find_elements(By.CSS_SELECTOR, "#accuracy_vs_latency_interactive g.points path.point")
    assert len(points) >= 16 * len(devices)
    ActionChains(browser).move_to_element(points[0]).perform()
    WebDriverWait(browser, 10).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#accuracy_vs_latency_interactive g.hovertext"))
    hover = browser.find_element(By.CSS_SELECTOR, "#accuracy_vs_latency_interactive g.hovertext").text
    assert "p50" in hover and "ms" in hover and "accuracy" in hover and "threads=" in hover
    shot = tmp_path / "shot.png"
    browser.save_screenshot(str(shot))
    from PIL import Image
    import numpy as np

    pixels = np.asarray(Image.open(shot).convert("L"))
    assert (pixels < 200).mean() > 0.01  # text, tables and charts, not a blank page
