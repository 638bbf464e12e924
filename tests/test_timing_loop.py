"""The harness's own clock (`device_agent/protocol.py`): warm-up and the timed loop stop exactly where their
settings say, whatever the model."""

import time

from device_agent.protocol import TimingSettings, timed_loop, warm_up


class Counter:
    def __init__(self, sleep: float = 0.0):
        self.calls, self.sleep = 0, sleep

    def __call__(self):
        self.calls += 1
        if self.sleep:
            time.sleep(self.sleep)


def test_timed_loop_runs_exactly_min_runs_when_time_is_no_bound():
    invoke = Counter(sleep=0.002)
    samples = timed_loop(invoke, TimingSettings(min_runs=25, min_seconds=0.0, max_seconds=60.0))
    assert len(samples) == invoke.calls == 25
    assert all(isinstance(s, int) and 2_000_000 <= s < 1_000_000_000 for s in samples)  # each at least the sleep


def test_timed_loop_runs_until_min_seconds_and_stops_at_the_first_chance():
    invoke = Counter(sleep=0.01)
    started = time.perf_counter()
    samples = timed_loop(invoke, TimingSettings(min_runs=1, min_seconds=0.05, max_seconds=60.0))
    assert time.perf_counter() - started >= 0.05 and len(samples) == invoke.calls >= 2
    assert sum(samples[:-1]) < 0.05e9  # before the last sample the minimum time had not passed


def test_timed_loop_stops_at_max_seconds_before_min_runs():
    invoke = Counter(sleep=0.005)
    started = time.perf_counter()
    samples = timed_loop(invoke, TimingSettings(min_runs=10**9, min_seconds=0.0, max_seconds=0.05))
    assert 0.05 <= time.perf_counter() - started < 5.0 and 1 <= len(samples) == invoke.calls
    assert sum(samples[:-1]) < 0.05e9


def test_warm_up_counts_runs_then_time_and_respects_its_cap():
    invoke = Counter()
    assert warm_up(invoke, TimingSettings(warmup_runs=7, warmup_seconds=0.0))["runs"] == invoke.calls == 7
    invoke = Counter(sleep=0.01)
    done = warm_up(invoke, TimingSettings(warmup_runs=1, warmup_seconds=0.05))
    assert done["runs"] == invoke.calls >= 2 and done["seconds"] >= 0.05
    invoke = Counter()
    zero = warm_up(invoke, TimingSettings(warmup_runs=0, warmup_seconds=5.0))
    assert zero["runs"] == invoke.calls == 0 and zero["seconds"] < 1.0  # no runs asked: no warm-up, whatever the seconds
    invoke = Counter(sleep=0.005)
    capped = warm_up(invoke, TimingSettings(warmup_runs=10**6, warmup_seconds=0.0, max_seconds=0.03))
    assert 1 <= capped["runs"] == invoke.calls < 10**6 and 0.03 <= capped["seconds"] < 5.0
