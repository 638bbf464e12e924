"""Sensors read from files laid out as /sys lays them out, sustained runs of a real workload, the throttle
onset found in constructed series, and the report's sustained section."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from device_agent.device_info import parse_throttled
from device_agent.sensors import cpu_state, wait_for_temperature
from device_agent.sustained import analyze, burst_count, run_sustained, sustained_start, throttle_onset
from edgebench.report import sustained as sustained_report


def fake_sys(root: Path, zones=(("cpu-thermal", 52_000), ("battery", 61_000)), freqs=(1_500_000, 1_800_000),
             max_freq=1_800_000, throttled="50005") -> Path:
    """A folder laid out as a Raspberry Pi's /sys (values in the kernel's units)."""
    for index, (kind, millidegrees) in enumerate(zones):
        zone = root / "sys/class/thermal" / f"thermal_zone{index}"
        zone.mkdir(parents=True)
        (zone / "type").write_text(kind + "\n")
        (zone / "temp").write_text(f"{millidegrees}\n")
    for cpu, freq in enumerate(freqs):
        folder = root / "sys/devices/system/cpu" / f"cpu{cpu}" / "cpufreq"
        folder.mkdir(parents=True)
        (folder / "scaling_cur_freq").write_text(f"{freq}\n")
        (folder / "cpuinfo_max_freq").write_text(f"{max_freq}\n")
        (folder / "scaling_governor").write_text("ondemand\n")
    if throttled is not None:
        firmware = root / "sys/devices/platform/soc/soc:firmware"
        firmware.mkdir(parents=True)
        (firmware / "get_throttled").write_text(throttled + "\n")
    return root


def test_cpu_state_reads_a_pi_layout(tmp_path):
    state = cpu_state(str(fake_sys(tmp_path)))
    # the CPU zone, not the hotter battery
    assert state["temperature_c"] == 52.0
    assert state["frequency_mhz"] == 1650.0 and state["max_frequency_mhz"] == 1800.0
    assert state["throttled"] is True and state["throttled_raw"] == "0x50005"
    flags = state["throttle_flags"]
    assert (flags["under_voltage"], flags["throttled_now"], flags["freq_capped"], flags["soft_temp_limit"]) == \
        (True, True, False, False)
    assert (flags["under_voltage_since_boot"], flags["throttled_since_boot"],
            flags["soft_temp_limit_since_boot"]) == (True, True, False)


def test_cpu_state_without_sensors_is_all_none_and_fast(tmp_path):
    state = cpu_state(str(tmp_path))
    assert state == {"temperature_c": None, "frequency_mhz": None, "max_frequency_mhz": None, "throttled": None,
                     "throttled_raw": None, "throttle_flags": None}
    root = str(fake_sys(tmp_path / "pi"))
    started = time.perf_counter()
    for _ in range(100):
        cpu_state(root)
    assert (time.perf_counter() - started) / 100 < 0.005


def test_cpu_state_survives_garbage(tmp_path):
    root = fake_sys(tmp_path, zones=(("cpu-thermal", "hot"),), freqs=("n/a",), throttled="not hex")
    assert cpu_state(str(root))["temperature_c"] is None
    assert cpu_state(str(root))["frequency_mhz"] is None and cpu_state(str(root))["throttled"] is None


def test_no_cpu_zone_falls_back_to_the_hottest():
    from device_agent.sensors import cpu_temperature

    assert cpu_temperature({"thermal_zone0:acpitz": 40.0, "thermal_zone1:iwlwifi": 44.5}) == 44.5
    assert cpu_temperature({"thermal_zone0:x86_pkg_temp": 61.0, "thermal_zone1:iwlwifi": 70.0}) == 61.0
    assert cpu_temperature({}) is None


@pytest.mark.parametrize("text, now, any_set, names", [
    ("throttled=0x0", False, False, []),
    ("throttled=0x80000", False, True, ["soft_temp_limit_since_boot"]),
    ("throttled=0xe0008", True, True, ["soft_temp_limit", "freq_capped_since_boot", "throttled_since_boot",
                                       "soft_temp_limit_since_boot"]),
    ("50005", True, True, ["under_voltage", "throttled_now", "under_voltage_since_boot", "throttled_since_boot"]),
])
def test_parse_throttled_bits(text, now, any_set, names):
    flags = parse_throttled(text)
    assert flags["now"] is now and flags["any"] is any_set
    assert sorted(key for key, value in flags.items() if value is True and key not in ("now", "any")) == sorted(names)


def test_parse_throttled_rejects_garbage():
    assert parse_throttled("error=1 error_msg=\"Command not registered\"") is None
    assert parse_throttled("") is None


def test_wait_for_temperature_reads_the_zone_until_it_cools(tmp_path):
    root = fake_sys(tmp_path, zones=(("cpu-thermal", 60_000),))
    already = wait_for_temperature(70.0, 5.0, root=str(root))
    assert already["reached"] is True and already["waited_s"] < 0.5 and already["start_c"] == 60.0
    timer = threading.Timer(0.4, lambda: (root / "sys/class/thermal/thermal_zone0/temp").write_text("44000\n"))
    timer.start()
    cooled = wait_for_temperature(45.0, 5.0, root=str(root), poll_s=0.05)
    timer.join()
    assert cooled["reached"] is True and 0.35 <= cooled["waited_s"] < 2.0 and cooled["end_c"] == 44.0
    assert cooled["reason"].startswith("44.0 C <= 45 C after")


def test_wait_for_temperature_gives_up_and_says_so(tmp_path):
    root = fake_sys(tmp_path, zones=(("cpu-thermal", 60_000),))
    hot = wait_for_temperature(45.0, 0.3, root=str(root), poll_s=0.05)
    assert hot["reached"] is False and 0.3 <= hot["waited_s"] < 1.0
    assert hot["reason"] == "still 60.0 C > 45 C after the 0.3 s limit"
    blind = wait_for_temperature(45.0, 10.0, root=str(tmp_path / "none"))
    assert blind["reached"] is None and blind["waited_s"] == 0.0 and "no CPU temperature" in blind["reason"]


def test_run_sustained_with_a_real_workload(tmp_path):
    root = str(fake_sys(tmp_path))
    matrix = np.random.default_rng(0).standard_normal((96, 96)).astype(np.float32)
    result = run_sustained(lambda: matrix @ matrix, 2.0, interval=0.25, root=root)
    series = result["series"]
    assert 7 <= len(series) <= 9 and 2.0 <= result["seconds"] < 2.5
    assert [s["t"] for s in series] == sorted(s["t"] for s in series) and series[-1]["t"] >= 2.0
    assert sum(s["n"] for s in series) == result["runs"] and all(s["n"] > 0 for s in series)
    assert all(0 < s["p50_ms"] <= s["p90_ms"] < 100 for s in series)
    assert all(s["temperature_c"] == 52.0 and s["frequency_mhz"] == 1650.0 for s in series)
    assert result["burst_seconds"] == series[0]["t"]  # 10 % of 8 intervals: the first one
    assert result["slowdown"] == pytest.approx(result["sustained_p50_ms"] / result["burst_p50_ms"], rel=1e-3)
    # the fake firmware says throttled from the start
    assert result["throttle_onset_s"] == series[0]["t"] and result["throttled"] is True
    assert result["throttle_reason"] == "firmware reports under-voltage, throttled (0x50005)"


def test_run_sustained_slower_than_the_interval(tmp_path):
    result = run_sustained(lambda: time.sleep(0.12), 0.5, interval=0.05, root=str(tmp_path))
    assert all(s["n"] == 1 for s in result["series"]) and 4 <= len(result["series"]) <= 5
    assert result["burst_p50_ms"] == pytest.approx(120, rel=0.5) and result["throttle_onset_s"] is None
    with pytest.raises(ValueError, match="must both be more than 0"):
        run_sustained(lambda: None, 0)


def test_burst_and_sustained_windows():
    assert burst_count(600, 1.0) == 10 and burst_count(50, 1.0) == 5 and burst_count(5, 1.0) == 1
    assert burst_count(600, 0.5) == 20 and sustained_start(600) == 300 and sustained_start(1) == 0


def _series(p50s, frequencies=None, throttled=None):
    return [{"t": float(i + 1), "n": 100, "p50_ms": p, "p90_ms": p * 1.1, "temperature_c": 50.0 + i,
             "frequency_mhz": frequencies[i] if frequencies else None,
             "throttled": throttled[i] if throttled else None,
             "throttled_raw": ("0x20002" if throttled[i] else "0x0") if throttled else None}
            for i, p in enumerate(p50s)]


def test_onset_from_latency_needs_three_intervals_in_a_row():
    p50s = [1.0] * 20 + [1.2, 1.2, 1.0] + [1.15, 1.16, 1.2, 1.2] + [1.0] * 5
    onset, reason, signal = throttle_onset(_series(p50s), 1.0, 10)
    assert onset == 24.0 and reason.startswith("p50 1.15 ms and the 2 intervals after it are over 10 % above")
    assert signal == "latency"
    assert throttle_onset(_series([1.0, 1.05, 1.09, 1.08] * 10), 1.0, 4) == (None, None, None)


def test_onset_from_frequency_and_firmware():
    frequencies = [1800.0] * 12 + [1720.0, 1500.0] + [1500.0] * 6
    assert throttle_onset(_series([1.0] * 20, frequencies=frequencies), 1.0, 10) == \
        (14.0, "CPU frequency 1500 MHz is below 95 % of the start's 1800 MHz", "frequency")
    flags = [False] * 30 + [True] * 10
    assert throttle_onset(_series([1.0] * 40, throttled=flags), 1.0, 4) == \
        (31.0, "firmware reports frequency capped (0x20002)", "firmware")


def test_analyze_pools_the_samples_of_each_window():
    intervals = 100
    samples = np.concatenate([np.full(10, 1_000_000 if i < 50 else 2_000_000, dtype=np.int64)
                              for i in range(intervals)])
    bounds = list(range(0, 10 * intervals + 1, 10))
    series = _series([1.0 if i < 50 else 2.0 for i in range(intervals)],
                     frequencies=[1800.0] * 50 + [1200.0] * 50)
    result = analyze(series, samples, bounds, 1.0)
    assert (result["burst_p50_ms"], result["sustained_p50_ms"], result["slowdown"]) == (1.0, 2.0, 2.0)
    assert result["burst_seconds"] == 10.0 and result["sustained_from_s"] == 50.0
    assert result["throttle_onset_s"] == 51.0 and result["throttle_signal"] == "frequency"
    assert result["frequency_drop"] == pytest.approx(1 / 3, abs=1e-3)


def test_report_section_and_plot(tmp_path):
    root = str(fake_sys(tmp_path / "sys"))
    matrix = np.ones((64, 64), dtype=np.float32)
    sustained = run_sustained(lambda: matrix @ matrix, 1.0, interval=0.1, root=root)
    document = {"device": {"name": "pi5"}, "bundle": {"model": {"name": "resnet8"}},
                "runs": [{"artifact": "onnx-fp32", "config": "onnx-fp32 threads=4", "sustained": sustained},
                         {"artifact": "onnx-int8", "sustained": None}]}
    lines = sustained_report.markdown([document])
    assert lines[0] == "## Sustained runs"
    [row] = [line for line in lines if line.startswith("| pi5 |")]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[:3] == ["pi5", "resnet8", "onnx-fp32 threads=4"]
    assert cells[4] == f"{sustained['burst_p50_ms']:.3f}" and cells[7].startswith("0 s: firmware reports")
    assert cells[8] == "52.0 -> 52.0 (max 52.0)" and cells[9] == "1650 -> 1650 (min 1650)"
    out = tmp_path / "report"
    page = sustained_report.html([document], out)
    [png] = list(out.glob("*.png"))
    assert png.name == "sustained-pi5-resnet8-onnx-fp32-threads-4.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert page.count("data:image/png;base64,") == 1 and page.count("firmware reports under-voltage, throttled") == 2
    assert sustained_report.markdown([{"runs": [{"artifact": "x"}]}]) == []
    assert sustained_report.html([{"runs": []}], out) == ""


def test_cpufreq_numbers_the_cores_as_the_kernel_does(tmp_path):
    from device_agent.device_info import cpufreq

    root = fake_sys(tmp_path, freqs=[600_000 + 100_000 * cpu for cpu in range(12)])
    cores = cpufreq(str(root))
    assert [core["cpu"] for core in cores] == list(range(12))
    assert [core["cur_mhz"] for core in cores[9:]] == [1500, 1600, 1700]
    assert {core["max_mhz"] for core in cores} == {1800} and cores[0]["governor"] == "ondemand"
