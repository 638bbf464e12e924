"""device_agent.stats: interval coverage by simulation, exact ranks, paired ratios, verdicts and ranking."""

from __future__ import annotations

import math

import numpy as np
import pytest

from device_agent import stats


@pytest.mark.parametrize("n", [10, 20, 40])
def test_median_ci_covers_the_true_median_about_95_percent_of_the_time(n):
    generator = np.random.default_rng(1234 + n)
    true_median = math.exp(0.0)  # lognormal(mu=0, sigma): median exp(mu)
    draws = 2000
    covered = 0
    for _ in range(draws):
        _, lo, hi = stats.median_ci(generator.lognormal(mean=0.0, sigma=0.6, size=n))
        covered += lo <= true_median <= hi
    _, _, exact = stats.median_ranks(n)
    assert 0.93 <= covered / draws <= (0.985 if n == 10 else 0.97)
    assert abs(covered / draws - exact) < 0.015  # the simulation agrees with the binomial coverage


@pytest.mark.parametrize("n, lo, hi, coverage", [
    (5, 1, 5, 1 - 2 / 32),               # no pair of ranks reaches 95 %: [min, max]
    (6, 1, 6, 1 - 2 / 64),
    (9, 2, 8, 1 - 2 * 10 / 512),          # P(B <= 1) = (1 + 9) / 2**9
    (10, 2, 9, 1 - 2 * 11 / 1024),        # P(B <= 1) = (1 + 10) / 2**10; P(B <= 2) = 56 / 1024 > 0.025
    (20, 6, 15, 1 - 2 * 21700 / 2 ** 20),  # 1 + 20 + 190 + 1140 + 4845 + 15504
])
def test_median_ranks_are_the_exact_binomial_ones(n, lo, hi, coverage):
    got_lo, got_hi, got_coverage = stats.median_ranks(n)
    assert (got_lo, got_hi) == (lo, hi)
    assert got_coverage == pytest.approx(coverage, abs=1e-12)


def test_median_ci_picks_those_order_statistics():
    values = [9.0, 1.0, 8.0, 2.0, 7.0, 3.0, 6.0, 4.0, 5.0, 10.0]
    assert stats.median_ci(values) == (5.5, 2.0, 9.0)
    assert stats.median_ci([3.0]) == (3.0, 3.0, 3.0)
    with pytest.raises(ValueError, match="at least one value"):
        stats.median_ci([])
    with pytest.raises(ValueError, match="NaN"):
        stats.median_ci([1.0, float("nan")])


def test_latency_summary_uses_rounds_and_falls_back_to_blocks():
    rounds = [1.0, 1.02, 0.98, 1.01, 0.99, 1.03, 0.97, 1.0, 1.04, 0.96]
    samples = list(np.linspace(0.95, 1.05, 100))
    summary = stats.latency_summary_ci(rounds, samples)
    assert summary["p50_ci95"] == [0.97, 1.03]
    assert summary["ci_method"] == stats.CI_METHOD
    assert summary["ci_half_width_pct"] == pytest.approx(3.0, abs=0.01)
    few = stats.latency_summary_ci(rounds[:3], samples)
    assert "10 contiguous blocks" in few["ci_method"]
    blocks = [float(np.median(b)) for b in np.array_split(np.asarray(samples), 10)]
    assert few["p50_ci95"] == [round(blocks[1], 5), round(blocks[8], 5)]
    tiny = stats.latency_summary_ci([], samples[:12])
    assert "individual samples" in tiny["ci_method"]


def test_ratio_ci_separates_shifted_data_and_not_identical_data():
    generator = np.random.default_rng(7)
    drift = 1.0 + 0.3 * np.sin(np.arange(10))           # both configurations see the same round conditions
    a = drift * generator.lognormal(0.0, 0.02, 10)
    b = 1.15 * drift * generator.lognormal(0.0, 0.02, 10)
    ratio = stats.ratio_ci(a, b)
    assert 1.10 < ratio[0] < 1.20 and ratio[1] > 1.0
    assert stats.verdict(ratio) == "slower"
    assert stats.verdict(stats.ratio_ci(b, a)) == "faster"
    same = drift * generator.lognormal(0.0, 0.02, 10)
    assert stats.verdict(stats.ratio_ci(a, same)) == "indistinguishable"


def test_identical_distributions_are_indistinguishable_at_least_95_percent_of_the_time():
    generator = np.random.default_rng(11)
    separated = 0
    for _ in range(500):
        drift = generator.lognormal(0.0, 0.2, 10)
        a = drift * generator.lognormal(0.0, 0.05, 10)
        b = drift * generator.lognormal(0.0, 0.05, 10)
        separated += stats.verdict(stats.ratio_ci(a, b)) != "indistinguishable"
    assert separated / 500 <= 0.05


def test_verdict_needs_both_an_interval_off_one_and_the_margin():
    assert stats.verdict((1.01, 1.005, 1.02)) == "indistinguishable"   # real but below the practical margin
    assert stats.verdict((1.10, 0.99, 1.2)) == "indistinguishable"     # large but not separated from 1
    assert stats.verdict((1.10, 1.02, 1.2)) == "slower"
    assert stats.verdict((0.90, 0.8, 0.98)) == "faster"
    assert stats.verdict((1.10, 1.02, 1.2), margin=0.2) == "indistinguishable"


def test_ratio_ci_pairs_the_common_rounds_and_rejects_bad_input():
    assert stats.ratio_ci([1.0, 1.0, 1.0], [2.0, 2.0]) == (2.0, 2.0, 2.0)
    with pytest.raises(ValueError, match="at least one round"):
        stats.ratio_ci([], [1.0])
    with pytest.raises(ValueError, match="positive"):
        stats.ratio_ci([1.0, 0.0], [1.0, 1.0])


def _steady(n=200, level=10.0, spread=0.02, seed=3):
    return list(level * np.random.default_rng(seed).lognormal(0.0, spread, n))


@pytest.mark.parametrize("samples, rounds, kwargs, expected, words", [
    (_steady(n=20), [10.0] * 10, {}, "too-short", "20 timed runs"),
    (_steady(n=100, level=5.0), [5.0] * 10, {}, "too-short", "0.50 s"),
    (_steady(), [10.0] * 10, {"throttled": True}, "throttled", "firmware"),
    (_steady(), [10.0] * 10, {"frequency_drop": 0.12}, "throttled", "fell by 12 %"),
    (_steady(), [10.0] * 10, {"frequency_drop": 0.02}, "stable", "half-width 0.0 %"),
    (_steady(), [8.0, 12.0, 8.5, 11.5, 9.0, 11.0, 9.5, 10.5, 10.0, 10.0], {}, "noisy",
     "half-width 15.0 % of p50 (> 5 %)"),
    (_steady(spread=0.6), [10.0] * 10, {}, "noisy", "CV"),
])
def test_stability_verdicts(samples, rounds, kwargs, expected, words):
    judged = stats.stability(samples, rounds, **kwargs)
    assert judged["verdict"] == expected
    assert words in judged["reason"]


def _run(config, rounds, error=None):
    return {"config": config, "artifact": config.split()[0], "rounds_ms": rounds, "error": error}


def test_rank_names_a_fastest_only_when_separated():
    base = [1.0, 1.1, 0.95, 1.05, 1.0, 0.98, 1.02, 1.0, 0.97, 1.03]
    runs = [_run("onnx-fp32", [1.3 * v for v in base]), _run("onnx-int8", base),
            _run("broken", [0.1] * 10, error="crashed"), {"config": "old", "error": None}]
    comparison = stats.rank(runs)
    assert comparison["reference"] == "onnx-int8"
    assert comparison["separated"] is True
    assert [entry["config"] for entry in comparison["entries"]] == ["onnx-fp32"]
    assert comparison["entries"][0]["ratio"] == pytest.approx(1.3)
    assert comparison["entries"][0]["verdict"] == "slower"

    twin = _run("onnx-int8#2", [v * w for v, w in zip(base, [1.01, 0.99, 1.0, 1.02, 0.98, 1.0, 1.01, 0.99, 1.0, 1.0])])
    comparison = stats.rank(runs + [twin])
    assert comparison["separated"] is False
    assert [entry["verdict"] for entry in comparison["entries"]] == ["indistinguishable", "slower"]


def test_rank_with_nothing_to_compare():
    assert stats.rank([]) == {"method": stats.rank([])["method"], "reference": None, "separated": False,
                              "entries": []}
    single = stats.rank([_run("onnx-fp32", [1.0] * 10)])
    assert single["reference"] == "onnx-fp32" and single["separated"] is False and single["entries"] == []
