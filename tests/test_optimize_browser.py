"""optimize.html in a real Chromium (Debian's chromium + chromedriver through selenium): every plot decodes and is
laid out, the answer line and the candidates grouped by reason are on the page, and with sources the study's table."""

from __future__ import annotations

import contextlib
import shutil

import pytest

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")]

IMAGES = "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.getBoundingClientRect().width])"


def _written(tmp_path, entries_of=None, source_rows=None):
    """A simulated search's report written to tmp_path/o: (report, page path, entries). `entries_of(entries)` may
    change the candidates first (their sources)."""
    from edgebench.optimize.answer import write_outputs
    from edgebench.optimize.host import ModelInput
    from edgebench.optimize.journal import Journal
    from edgebench.optimize.run import OptimizeSpec
    from tests.test_optimize_search import SPACE, run_search

    table, device, entries, decision = run_search(tmp_path, 4)
    if entries_of is not None:
        entries_of(entries)
    spec = OptimizeSpec(source=ModelInput(model="sim"), max_drop=1.0, space=SPACE, out=tmp_path / "o")

    class Spent:
        spent, by_stage, cached_hits = device.spent, {"screening": 1.0, "sweep": 3.0, "confirmation": 2.0}, 0

    report = write_outputs(spec=spec, journal=Journal.open(spec.out, spec.identity()), entries=entries, sources={},
                           decision=decision, ledger=Spent, fingerprint={}, stopped=None, stages=[], wall_s=1.0,
                           source_rows=source_rows)
    return report, spec.out / "optimize.html", entries


@contextlib.contextmanager
def _chromium(page):
    """Headless Chromium showing `page`."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1200,1800"):
        options.add_argument(flag)
    options.binary_location = CHROMIUM
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        driver.get(page.as_uri())
        yield driver
    finally:
        driver.quit()


def test_optimize_html_renders_in_chromium(tmp_path):
    from selenium.webdriver.common.by import By

    report, page, entries = _written(tmp_path)
    with _chromium(page) as driver:
        images = driver.execute_script(IMAGES)
        assert len(images) == 4 and all(done and natural > 300 and shown > 300 for done, natural, shown in images)
        assert driver.find_element(By.ID, "answer").text == report["answer"]
        headings = [h.text for h in driver.find_elements(By.TAG_NAME, "h2")]
        assert headings[0] == "winner (1)" and "accuracy-drop (2)" in headings
        assert len(driver.find_elements(By.CSS_SELECTOR, "table.candidates tbody tr")) == len(entries)


def _two_sources(entries) -> None:
    for position, name in enumerate(sorted(entries)):
        entries[name]["source"] = "sim" if position % 2 == 0 else "sim-channel-0.5"


def test_the_study_table_renders_in_chromium(tmp_path):
    """With sources (MODEL and a pruned copy), the page carries the study's table, one row per source with its best
    artifact and the Pareto marks, and the sources' plot decodes."""
    from selenium.webdriver.common.by import By

    common = {"model": "sim", "checkpoint": None, "searched": True, "flops": 4e7}
    rows = [{**common, "name": "sim", "kind": "model", "reference": True, "params": 100_000, "accuracy": 90.0,
             "drop_pp": 0.0},
            {**common, "name": "sim-channel-0.5", "kind": "pruned", "reference": False, "params": 26_000,
             "flops": 1.1e7, "accuracy": 88.5, "drop_pp": 1.5,
             "prune": {"method": "channel", "ratio": 0.5, "fine_tune_epochs": 2, "seed": 0, "achieved": 0.5}}]
    report, page, _ = _written(tmp_path, _two_sources, rows)
    assert [row["name"] for row in report["study"]] == ["sim", "sim-channel-0.5"]
    with _chromium(page) as driver:
        body = driver.find_elements(By.CSS_SELECTOR, "table#study tbody tr")
        assert len(body) == 2
        cells = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")] for row in body]
        assert [row[0] for row in cells] == ["sim (reference)", "sim-channel-0.5"]  # no "#": not the study's variants
        assert cells[1][1] == "channel pruning 0.5, 50 % of channels, 2 fine-tune epochs"
        assert [row[2] for row in cells] == ["100,000", "26,000"] and [row[4] for row in cells] == ["90.0", "88.5"]
        best = [r["best"] for r in report["study"]]
        assert [row[5] for row in cells] == best and all(best)  # each source's best artifact is named
        marks = [row[-1] for row in cells]
        assert marks == [r["pareto"] or "-" for r in report["study"]] and any(m != "-" for m in marks)
        images = driver.execute_script(IMAGES)
        assert len(images) == 5 and all(done and natural > 300 and shown > 300 for done, natural, shown in images)
