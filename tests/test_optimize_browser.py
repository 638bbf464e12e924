"""optimize.html in a real Chromium (Debian's chromium + chromedriver through selenium): every plot decodes and is
laid out, the answer line and the candidates grouped by reason are on the page."""

from __future__ import annotations

import shutil

import pytest

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")]

IMAGES = "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.getBoundingClientRect().width])"


def test_optimize_html_renders_in_chromium(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    from edgebench.optimize.answer import write_outputs
    from edgebench.optimize.host import ModelInput
    from edgebench.optimize.journal import Journal
    from edgebench.optimize.run import OptimizeSpec
    from tests.test_optimize_search import SPACE, run_search

    table, device, entries, decision = run_search(tmp_path, 4)
    spec = OptimizeSpec(source=ModelInput(model="sim"), max_drop=1.0, space=SPACE, out=tmp_path / "o")

    class Spent:
        spent, by_stage, cached_hits = device.spent, {"screening": 1.0, "sweep": 3.0, "confirmation": 2.0}, 0

    report = write_outputs(spec=spec, journal=Journal.open(spec.out, spec.identity()), entries=entries, sources={},
                           decision=decision, ledger=Spent, fingerprint={}, stopped=None, stages=[], wall_s=1.0)
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,1800"):
        options.add_argument(flag)
    options.binary_location = CHROMIUM
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        driver.get((spec.out / "optimize.html").as_uri())
        images = driver.execute_script(IMAGES)
        assert len(images) == 4 and all(done and natural > 300 and shown > 300 for done, natural, shown in images)
        assert driver.find_element(By.ID, "answer").text == report["answer"]
        headings = [h.text for h in driver.find_elements(By.TAG_NAME, "h2")]
        assert headings[0] == "winner (1)" and "accuracy-drop (2)" in headings
        assert len(driver.find_elements(By.CSS_SELECTOR, "table.candidates tbody tr")) == len(entries)
    finally:
        driver.quit()
