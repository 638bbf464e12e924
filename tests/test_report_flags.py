"""Flags that mean something, on hand-written rows: `noisy` reads the p50's interval, the tail is flagged only
where it reverses an order the p50 gives, a flag shared by many rows is said once, and one explanation per kind
of unavailability."""

from __future__ import annotations

from dataclasses import replace

from edgebench.report import render
from edgebench.report.flags import FlagThresholds, flag_rows, grouped_notes, noise_flag, tail_flag, tail_ratio
from edgebench.report.unavailable import explanations, kind_of
from tests.report_study_rows import study_rows

BASE = study_rows(threads=(1,))[0]


def _row(**changes):
    return replace(BASE, flags=(), **changes)


def test_noisy_reads_the_p50_interval_not_the_samples_spread():
    thresholds = FlagThresholds()
    busy = _row(cv=0.45, ci_half_width_pct=0.4, stability="noisy", stability_reason="CV 45 % of the samples")
    assert noise_flag(busy, thresholds) is None  # the case: a wide tail, a 0.4 % interval
    wide = _row(cv=0.05, ci_half_width_pct=6.3, stability="noisy")
    assert noise_flag(wide, thresholds) == "noisy p50: its 95 % interval is +/-6.3 % wide (> 5 %)"
    assert noise_flag(_row(ci_half_width_pct=6.3), FlagThresholds(max_half_width_pct=8.0)) is None
    throttled = _row(ci_half_width_pct=0.4, stability="throttled", stability_reason="the CPU frequency fell by 12 %")
    assert noise_flag(throttled, thresholds) == "throttled timing: the CPU frequency fell by 12 %"
    old = _row(cv=0.3, ci_half_width_pct=None, stability=None)  # a result without rounds: only the CV is there
    assert noise_flag(old, thresholds).startswith("noisy timing: CV 30 % > 10 %")
    assert noise_flag(_row(cv=0.05, ci_half_width_pct=None, stability=None), thresholds) is None


def test_tail_is_flagged_only_when_it_reverses_an_order():
    fast_heavy = _row(artifact="a", config="a", p50_ms=1.00, p90_ms=1.90)
    slow_steady = _row(artifact="b", config="b", p50_ms=1.20, p90_ms=1.30)
    slower_heavy = _row(artifact="c", config="c", p50_ms=3.00, p90_ms=6.00)  # heavy tail, changes nothing
    rows = [fast_heavy, slow_steady, slower_heavy]
    thresholds = FlagThresholds()
    assert tail_ratio(fast_heavy) == 1.9
    assert tail_flag(fast_heavy, rows, thresholds) == (
        "heavy tail (p90/p50 1.90x): faster than resnet20 b by p50 (1.000 against 1.200 ms) but slower by p90 "
        "(1.900 against 1.300 ms)")
    assert tail_flag(slow_steady, rows, thresholds) is None
    assert tail_flag(slower_heavy, rows, thresholds) is None
    other_device = replace(slow_steady, device="pi5")
    assert tail_flag(fast_heavy, [fast_heavy, other_device], thresholds) is None  # compared on one device only
    near = _row(artifact="d", config="d", p50_ms=1.01, p90_ms=1.89)  # within 2 %: no answer changes
    assert tail_flag(fast_heavy, [fast_heavy, near], thresholds) is None


def test_a_study_on_a_busy_machine_is_not_flagged_wholesale():
    rows = [replace(r, cv=0.35, ci_half_width_pct=0.4 + 0.1 * i, stability="noisy", runs=300)
            for i, r in enumerate(study_rows())]
    flagged = flag_rows(rows)
    assert sum(bool(r.flags) for r in flagged) == 0
    text = render.terminal(flagged)
    assert "p90/p50" in text.splitlines()[0] and "1.08x" in text


def test_a_flag_many_rows_share_is_one_note():
    rows = [replace(r, flags=("emulated device: compared only with other emulated results",))
            for r in study_rows(threads=(1,))[:3]]
    rows.append(replace(rows[0], artifact="x", config="x", flags=("only 12 timed runs (< 50)",)))
    notes = grouped_notes(rows)
    assert len(notes) == 2
    assert notes[0].startswith("emulated device: compared only with other emulated results: x86-host resnet20 ")
    assert notes[0].count("x86-host resnet20") == 3
    assert notes[1] == "x86-host resnet20 x: only 12 timed runs (< 50)"


def test_one_explanation_per_kind_of_unavailability():
    from device_agent.profiling import TFLITE_UNAVAILABLE

    reasons = [TFLITE_UNAVAILABLE.format(model=f"m_{p}.tflite", threads=t) for p in ("fp32", "int8") for t in (1, 2)]
    cells = {kind_of(reason)[0] for reason in reasons}
    assert cells == {"TFLite: no per-operator profiler in Python (see below)"}
    said = explanations(reasons + ["the ONNX Runtime profile holds no kernel events"])
    assert len(said) == 2
    assert "--graph=ARTIFACT.tflite --num_threads=THREADS --enable_op_profiling=true" in said[0]
