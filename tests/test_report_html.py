import copy
import json
import re
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from edgebench.cli import cli
from edgebench.report import build_rows, load_results
from edgebench.report.pareto import pareto_front

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _results(agent_result, tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    host = copy.deepcopy(agent_result)
    for run in host["runs"]:  # the fixture's runs are deliberately short; make the host look steady
        run["latency_ms"].update(cv=0.02, n=500)
        run["stability"] = {"verdict": "stable", "reason": "95 % interval half-width 1.1 % of p50, CV 2 %"}
    (folder / "host.json").write_text(json.dumps(host))
    other = copy.deepcopy(host)
    other["device"]["name"] = "pi5"
    other["runs"][1]["latency_ms"]["cv"] = 0.4
    other["runs"][1]["latency_ms"]["n"] = 12
    other["runs"][1]["stability"] = {"verdict": "noisy", "reason": "CV 40 % of the samples (> 25 %)"}
    other["runs"][1]["latency_ms"]["ci_half_width_pct"] = 0.4  # the spread is in the tail: the p50 is tight
    other["runs"][0]["latency_ms"]["ci_half_width_pct"] = 7.5
    other["thermal"]["flags"] = ["thermal_zone0:cpu-thermal rose 14.0 C during the run"]
    (folder / "pi5.json").write_text(json.dumps(other))
    return folder


def test_pareto_front():
    points = [(1.0, 90.0), (2.0, 95.0), (3.0, 94.0), (0.5, 80.0), (4.0, 96.0)]
    assert sorted(pareto_front(points)) == [0, 1, 3, 4]


def test_flags(agent_result, tmp_path):
    rows, _ = build_rows(load_results([str(_results(agent_result, tmp_path))]))
    flags = {(r.device, r.artifact): r.flags for r in rows}
    assert not any("noisy" in f for f in flags[("pi5", "onnx-int8")])  # judged on the p50's interval, not the CV
    assert "noisy p50: its 95 % interval is +/-7.5 % wide (> 5 %)" in flags[("pi5", "onnx-fp32")]
    assert any("only 12 timed runs" in f for f in flags[("pi5", "onnx-int8")])
    assert any("rose 14.0 C" in f for f in flags[("pi5", "onnx-fp32")])
    assert not any("noisy" in f for f in flags[(agent_result["device"]["name"], "onnx-int8")])


def test_mismatched_eval_sets_are_flagged(agent_result, tmp_path):
    folder = _results(agent_result, tmp_path)
    other = json.loads((folder / "pi5.json").read_text())
    other["bundle"]["eval"]["sha256"] = "0" * 64
    (folder / "pi5.json").write_text(json.dumps(other))
    rows, _ = build_rows(load_results([str(folder)]))
    assert all("different evaluation sets" in " ".join(r.flags) for r in rows)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_html_report_renders_in_chromium(agent_result, tmp_path):
    folder = _results(agent_result, tmp_path)
    html_path, plots = tmp_path / "report.html", tmp_path / "plots"
    result = CliRunner().invoke(cli, ["report", str(folder), "--html", str(html_path), "--plots", str(plots),
                                      "--max-drop", "1"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in plots.iterdir()) == ["accuracy_vs_latency.png", "accuracy_vs_size.png",
                                                       "latency_distributions.png", "per_device.png"]
    text = html_path.read_text()
    # Self-contained: nothing to fetch (Plotly's inlined script names URLs in its own code, never loads them).
    markup = re.sub(r"(?s)(<script[^>]*>).*?</script>", r"\1</script>", text)  # the tags, not their code
    assert not re.search(r"""(src|href)=["']?https?:""", markup) and "<link" not in markup
    assert "<script src" not in markup and markup.count("<script") >= 1  # every script inlined
    profile = tmp_path / "profile"
    dom = subprocess.run([CHROMIUM, *BROWSER_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=5000",
                          "--dump-dom", html_path.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'data-plots-rendered="4"' in dom.stdout  # the browser decoded all four plots
    assert len(re.findall(r"<tr class=\"[a-z]*\"><td", dom.stdout)) == 4
    assert "Within 1.0 pp on" in dom.stdout
    shot = tmp_path / "shot.png"
    done = subprocess.run([CHROMIUM, *BROWSER_FLAGS, f"--user-data-dir={profile}", f"--screenshot={shot}",
                           "--window-size=1400,2400", html_path.as_uri()], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and shot.exists()
    from PIL import Image
    import numpy as np

    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (2400, 1400)
    assert (pixels < 200).mean() > 0.01  # text, table rules and plots, not a blank page
