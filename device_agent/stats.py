"""Confidence intervals, paired comparisons and stability verdicts for latency measurements.

Method
------
* **Median interval** (`median_ci`): the distribution-free order-statistic interval. For n values sorted
  x(1) <= ... <= x(n), the number of values below the true median is Binomial(n, 1/2), so
  [x(k), x(n+1-k)] covers the median with probability 1 - 2 * P(B <= k-1). `median_ranks` picks the
  largest k whose coverage is still at least the confidence asked for (exact ranks from `math.comb`). The
  interval is therefore conservative (95.7 % for 20 values, 97.9 % for 10), needs no assumption about the
  shape of the distribution, and is not disturbed by outliers. With fewer than 6 values no pair of ranks
  reaches 95 %: the interval is then [min, max] and covers less (93.8 % for 5 values).
* **What it is computed over**: the median latency of each round (`rounds_ms`), not the individual
  samples. Consecutive samples are correlated (caches, frequency governor, neighbours), which makes a
  per-sample interval far too narrow; rounds are spread over the whole measurement, so drift shows up as
  spread between rounds. With fewer than 6 rounds the samples are cut into up to 10 contiguous blocks of at
  least 5 samples and the interval is over the block medians (said in the `ci_method` text).
* **Paired ratio** (`ratio_ci`): configurations measured in the same round share that round's conditions, so
  the comparison of b against a is over the per-round ratios b_i / a_i: their median with the same
  order-statistic interval. Rounds are paired by index; when the two lists differ in length the common
  first rounds are used.
* **Verdict** (`verdict`): b is "slower" than a when the ratio interval lies wholly above 1 *and* the median
  ratio is above 1 + MIN_EFFECT; "faster" when the interval lies wholly below 1 and the median ratio is
  below 1 / (1 + MIN_EFFECT); otherwise "indistinguishable". The margin (2 %) is a practical threshold: two
  processes running the same model can differ by a percent or two for reasons that have nothing to do with
  the model (memory placement, which core they land on), and such a difference is not worth a verdict. It is
  not what makes the A/A check pass: on the shared development machine (`bench/latency_ab.py`, 20 repetitions
  of 10 rounds) no A/A pair was separated even with no margin, since every interval covered 1.
* **Stability** (`stability`), first rule that applies: "too-short" with fewer than MIN_SAMPLES timed runs or
  under MIN_TIMED_SECONDS of timed inference; "throttled" when the firmware reports throttling or the CPU
  frequency fell by FREQUENCY_DROP or more; "noisy" when the 95 % interval's half-width is above
  NOISY_HALF_WIDTH_PCT of the p50 or the samples' coefficient of variation is above NOISY_CV; else "stable".
* **Ranking** (`rank`): the configuration with the lowest median of round medians is the reference; every
  other one gets its paired ratio against it. `separated` is true only when the runner-up (and so every other
  configuration) is "slower" than the reference, i.e. the data names a fastest configuration.

Pure numpy and the standard library; Python 3.9.
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

CI_METHOD = "distribution-free order-statistic interval (exact binomial ranks) of the median of round medians"
CI_METHOD_BLOCKS = ("distribution-free order-statistic interval (exact binomial ranks) of the median of {blocks} "
                    "contiguous blocks of samples (fewer than {rounds} rounds)")
CI_METHOD_SAMPLES = ("distribution-free order-statistic interval (exact binomial ranks) of the median of the "
                     "individual samples (too few for rounds or blocks)")
RANK_METHOD = ("paired per-round latency ratios against the fastest configuration (lowest median of round "
               "medians); median ratio with a distribution-free order-statistic 95 % interval; a difference "
               "counts when the interval excludes 1 and the ratio is beyond {margin:.0%}")

MIN_EFFECT = 0.02               # practical margin on a ratio: differences within 2 % are not reported
MIN_ROUNDS = 6                  # fewest values for which an order-statistic interval reaches 95 %
MAX_BLOCKS = 10
MIN_BLOCK_SAMPLES = 5
MIN_SAMPLES = 30                # timed runs below this are too few to judge
MIN_TIMED_SECONDS = 1.0         # less timed inference than this cannot show the machine's slower swings
FREQUENCY_DROP = 0.05           # a drop of the CPU frequency by 5 % or more counts as throttling
NOISY_HALF_WIDTH_PCT = 5.0      # 95 % interval half-width above 5 % of the p50
NOISY_CV = 0.25                 # coefficient of variation of the samples above 25 %


def percentiles(values: Sequence[float], quantiles: Sequence[float]) -> List[float]:
    """The `quantiles` (0 to 100) of `values`: the agent's one percentile rule (numpy's linear interpolation)."""
    return [float(v) for v in np.percentile(np.asarray(values, dtype=np.float64), quantiles)]


def median(values: Sequence[float]) -> float:
    return percentiles(values, [50])[0]


def median_ranks(n: int, confidence: float = 0.95) -> Tuple[int, int, float]:
    """1-based ranks (lo, hi) of the order-statistic interval of the median of n values, and its exact coverage."""
    if n < 1:
        raise ValueError(f"median interval of {n} values: give at least one value")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence {confidence} is out of range: give a number between 0 and 1")
    tail = (1.0 - confidence) / 2.0
    total = 2 ** n
    below = 0           # P(B <= k-1) * 2**n, built up term by term
    k = 0
    while k + 1 <= (n + 1) // 2:
        next_below = below + math.comb(n, k)
        if next_below / total > tail:
            break
        below = next_below
        k += 1
    lo = max(k, 1)
    coverage = 1.0 - 2.0 * (sum(math.comb(n, j) for j in range(lo)) / total)
    return lo, n + 1 - lo, coverage


def median_ci(values: Sequence[float], confidence: float = 0.95) -> Tuple[float, float, float]:
    """(median, lo, hi): the median of `values` with its distribution-free order-statistic interval."""
    ordered = np.sort(np.asarray(values, dtype=np.float64))
    if ordered.size == 0:
        raise ValueError("median interval of no values: give at least one value")
    if not np.all(np.isfinite(ordered)):
        raise ValueError("median interval: the values include NaN or infinity")
    lo, hi, _ = median_ranks(int(ordered.size), confidence)
    return median(ordered), float(ordered[lo - 1]), float(ordered[hi - 1])


def _blocks(samples_ms: Sequence[float]) -> List[float]:
    samples = np.asarray(samples_ms, dtype=np.float64)
    count = min(MAX_BLOCKS, samples.size // MIN_BLOCK_SAMPLES)
    if count < MIN_ROUNDS:
        return []
    return [median(block) for block in np.array_split(samples, count)]


def latency_summary_ci(rounds_ms: Sequence[float], samples_ms: Sequence[float]) -> Dict:
    """{"p50_ci95": [lo, hi], "ci_method": text, "ci_half_width_pct": x} for one configuration."""
    if len(rounds_ms) >= MIN_ROUNDS:
        values, method = list(rounds_ms), CI_METHOD
    else:
        values = _blocks(samples_ms)
        method = CI_METHOD_BLOCKS.format(blocks=len(values), rounds=MIN_ROUNDS)
        if not values:
            values, method = list(samples_ms), CI_METHOD_SAMPLES
    if not values:
        values = list(rounds_ms)
    center, lo, hi = median_ci(values)
    p50 = median(samples_ms) if len(samples_ms) else center
    half_width = 100.0 * (hi - lo) / 2.0 / p50 if p50 > 0 else float("inf")
    return {"p50_ci95": [round(lo, 5), round(hi, 5)], "ci_method": method,
            "ci_half_width_pct": round(half_width, 3)}


def ratio_ci(a_rounds: Sequence[float], b_rounds: Sequence[float],
             confidence: float = 0.95) -> Tuple[float, float, float]:
    """(median ratio, lo, hi) of b against a over paired rounds: b_i / a_i (above 1: b is slower)."""
    pairs = min(len(a_rounds), len(b_rounds))
    if pairs == 0:
        raise ValueError("ratio interval: both configurations need at least one round")
    a = np.asarray(a_rounds[:pairs], dtype=np.float64)
    b = np.asarray(b_rounds[:pairs], dtype=np.float64)
    if np.any(a <= 0) or np.any(b <= 0):
        raise ValueError("ratio interval: round latencies must be positive")
    return median_ci(b / a, confidence)


def verdict(ratio: Tuple[float, float, float], margin: float = MIN_EFFECT) -> str:
    """"faster" (b faster than a), "slower" or "indistinguishable" for a (ratio, lo, hi) of b / a."""
    center, lo, hi = ratio
    if lo > 1.0 and center > 1.0 + margin:
        return "slower"
    if hi < 1.0 and center < 1.0 / (1.0 + margin):
        return "faster"
    return "indistinguishable"


def stability(samples_ms: Sequence[float], rounds_ms: Sequence[float], throttled: Optional[bool] = None,
              frequency_drop: Optional[float] = None) -> Dict:
    """{"verdict": "stable"|"noisy"|"throttled"|"too-short", "reason": one line}.

    `frequency_drop` is the fraction by which the CPU frequency fell during the measurement (0.08 = 8 %).
    """
    samples = np.asarray(samples_ms, dtype=np.float64)
    seconds = float(samples.sum()) / 1000.0
    if samples.size < MIN_SAMPLES or seconds < MIN_TIMED_SECONDS:
        return {"verdict": "too-short", "reason": f"{samples.size} timed runs over {seconds:.2f} s (at least "
                f"{MIN_SAMPLES} runs and {MIN_TIMED_SECONDS:g} s are needed to judge)"}
    if throttled:
        return {"verdict": "throttled", "reason": "the firmware reported CPU throttling during the measurement"}
    if frequency_drop is not None and frequency_drop >= FREQUENCY_DROP:
        return {"verdict": "throttled", "reason": f"the CPU frequency fell by {100 * frequency_drop:.0f} % "
                f"(>= {100 * FREQUENCY_DROP:.0f} %) during the measurement"}
    summary = latency_summary_ci(rounds_ms, samples)
    half_width = summary["ci_half_width_pct"]
    mean = float(samples.mean())
    cv = float(samples.std(ddof=1)) / mean if samples.size > 1 and mean > 0 else 0.0
    where = f"{len(rounds_ms)} rounds" if len(rounds_ms) >= MIN_ROUNDS else "blocks of samples"
    if half_width > NOISY_HALF_WIDTH_PCT:
        return {"verdict": "noisy", "reason": f"95 % interval half-width {half_width:.1f} % of p50 "
                f"(> {NOISY_HALF_WIDTH_PCT:g} %) over {where}"}
    if cv > NOISY_CV:
        return {"verdict": "noisy", "reason": f"CV {100 * cv:.0f} % of the samples (> {100 * NOISY_CV:.0f} %)"}
    return {"verdict": "stable", "reason": f"95 % interval half-width {half_width:.1f} % of p50, CV "
            f"{100 * cv:.0f} %, {samples.size} runs over {where}"}


def _label(run: Dict) -> str:
    return str(run.get("config") or run.get("artifact") or run.get("file") or "?")


def rank(runs: Sequence[Dict]) -> Dict:
    """The result's "comparison": every measured configuration against the fastest, by paired round ratios.

    Runs with an error or without `rounds_ms` are left out. Entries (all but the reference) are ordered from
    the fastest; `separated` is true only when every other configuration, the runner-up first, is "slower"
    than the reference.
    """
    usable = [run for run in runs if not run.get("error") and run.get("rounds_ms")]
    method = RANK_METHOD.format(margin=MIN_EFFECT)
    if not usable:
        return {"method": method, "reference": None, "separated": False, "entries": []}
    medians = [median(run["rounds_ms"]) for run in usable]
    order = sorted(range(len(usable)), key=lambda index: medians[index])
    reference = usable[order[0]]
    entries = []
    for index in order[1:]:
        run = usable[index]
        ratio = ratio_ci(reference["rounds_ms"], run["rounds_ms"])
        entries.append({"config": _label(run), "ratio": round(ratio[0], 5),
                        "ratio_ci95": [round(ratio[1], 5), round(ratio[2], 5)], "verdict": verdict(ratio)})
    entries.sort(key=lambda entry: entry["ratio"])
    separated = bool(entries) and all(entry["verdict"] == "slower" for entry in entries)
    return {"method": method, "reference": _label(reference), "separated": separated, "entries": entries}
