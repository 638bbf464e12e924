"""Plots a person reads: no two label boxes intersect, the Pareto points and the reference are labelled, every
point is in the numbered key, one colour per format and one marker per precision, the box plot names the
configuration (with the thread count)."""

from __future__ import annotations

import io

import pytest

from edgebench.report import plots
from edgebench.report.labels import intersects, overlaps, place
from edgebench.report.pareto import pareto_front
from tests.report_study_rows import study_rows


def _label_boxes(scatter):
    """Each label's text box as drawn (an annotation's own extent would include its leader line)."""
    from matplotlib.text import Text

    scatter.figure.canvas.draw()  # places the annotations' texts
    renderer = scatter.figure.canvas.get_renderer()
    return [tuple(Text.get_window_extent(text, renderer).extents) for text in scatter.labels]


def test_place_never_returns_intersecting_boxes_for_a_crowd():
    points = [(100 + 3 * i, 100 + 2 * (i % 4)) for i in range(20)]  # twenty points within a few pixels
    spots = place(points, [(60, 10)] * 20, (0, 0, 400, 300))
    boxes = [spot.box for spot in spots if spot is not None]
    assert overlaps(boxes) == 0
    assert len(boxes) == 20  # room enough within 60 px
    near = [spot for spot in place(points, [(60, 10)] * 20, (0, 0, 400, 300), max_distance=15) if spot]
    assert 4 <= len(near) < 20 and overlaps([spot.box for spot in near]) == 0  # the rest go to the key
    assert intersects((0, 0, 2, 2), (1, 1, 3, 3)) and not intersects((0, 0, 1, 1), (1, 0, 2, 1))


@pytest.mark.parametrize("devices, axis", [(("x86-host",), "latency"), (("x86-host", "pi5"), "size")])
def test_no_two_labels_overlap_and_the_front_and_reference_are_named(devices, axis):
    rows = study_rows(devices=devices)
    cost = (lambda r: r.p50_ms) if axis == "latency" else (lambda r: r.size_mib)
    scatter = plots.accuracy_figure(rows, cost, "x", True)
    boxes = _label_boxes(scatter)
    assert overlaps(boxes) == 0
    assert len(scatter.key) == len(rows)  # every point is in the key, numbered 1..n
    assert [number for number, _ in scatter.key] == list(range(1, len(rows) + 1))
    texts = [text.get_text() for text in scatter.labels]
    for device in devices:
        subset = [r for r in plots.scatter_points(rows, cost) if r.device == device]
        front = [subset[i] for i in pareto_front([(cost(r), r.accuracy) for r in subset])]
        named = [t for t in texts if not t.isdigit()]  # the rest carry their number only
        for row in front:
            wanted = f"{row.label} threads={row.threads}"
            assert any(t.endswith(wanted) for t in named), (wanted, named)
    assert any("resnet20_fp32.onnx" in t for t in texts)  # the reference
    # The key says the thread count, so 1- and 2-thread points of one artifact are told apart.
    assert sum("resnet20_int8.onnx threads=2" in text for _, text in scatter.key) == len(devices)
    png = scatter.png()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_colour_per_format_and_marker_per_precision():
    rows = study_rows()
    scatter = plots.accuracy_figure(rows, lambda r: r.p50_ms, "x", True)
    ax = scatter.figure.axes[0]
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["onnx (colour)", "tflite (colour)", "dynamic (marker)", "fp16 (marker)", "fp32 (marker)",
                      "int8 (marker)", "Pareto front", "reference"]
    assert len({plots.precision_marker(p) for p in ("fp32", "fp16", "dynamic", "int8")}) == 4
    assert plots.format_colour("onnx") != plots.format_colour("tflite")
    assert ax.get_xlabel() == "x" and ax.get_ylabel() == "top-1 accuracy (%)"
    steps = [line for line in ax.get_lines() if line.get_drawstyle() == "steps-post"]
    assert len(steps) == 1  # the Pareto front is one step line


def test_box_plot_names_each_configuration_with_its_threads():
    from PIL import Image

    runs = []
    for threads in (1, 2):
        for precision in ("fp32", "int8"):
            runs.append({"_device": "x86", "_model": "resnet20", "artifact": f"resnet20_{precision}.onnx",
                         "config": f"resnet20_{precision}.onnx", "setting": {"threads": threads},
                         "latency_ms": {"p50": 1.0 * threads, "min": 0.9, "p90": 1.2, "p99": 1.5}})
    names = [plots.configuration(r["_model"], r["config"], r["setting"]["threads"]) for r in runs]
    assert len(set(names)) == 4 and names[0] == "resnet20 resnet20_fp32.onnx threads=1"
    assert plots.configuration("m", "a.onnx threads=2 opt=all", 2) == "m a.onnx threads=2 opt=all"
    image = Image.open(io.BytesIO(plots.latency_distributions(runs)))
    assert image.size[0] > 500 and image.size[1] > 200
