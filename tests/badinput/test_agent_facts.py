"""Device facts that cannot be read are null with a reason; facts of another architecture are dropped and
mark the run as emulated."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

from device_agent.device_info import (android, arch_family, cpu_model, cpuinfo_family, device_facts, emulation,
                                      run_command)
from device_agent.schema import validate

from .test_agent_bundle import FAST, ROOT, agent, bundle, pristine  # noqa: F401 (fixtures)

EPYC_CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model name\t: AMD EPYC 7B13
flags\t\t: fpu vme de pse tsc msr avx2 fma
"""
PI4_CPUINFO = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU implementer\t: 0x41
CPU architecture: 8
CPU part\t: 0xd08

Hardware\t: BCM2835
Model\t\t: Raspberry Pi 4 Model B Rev 1.4
"""


def test_architecture_families():
    assert [arch_family(m) for m in ("x86_64", "i686", "aarch64", "armv7l", "armv6l", "riscv64", "vax")] == \
        ["x86", "x86", "arm", "arm", "arm", "riscv", None]
    assert cpuinfo_family(EPYC_CPUINFO) == ("x86", "vendor_id AuthenticAMD")
    assert cpuinfo_family(PI4_CPUINFO) == ("arm", "CPU implementer 0x41")
    assert cpuinfo_family("model name : Intel(R) Xeon(R) CPU") == ("x86", "model name 'Intel(R) Xeon(R) CPU'")
    assert cpuinfo_family("") == (None, "")


def test_an_x86_cpu_is_not_reported_on_arm():
    unavailable = {}
    assert cpu_model("aarch64", EPYC_CPUINFO, unavailable) is None
    assert unavailable == {"cpu_model": "/proc/cpuinfo describes an x86 CPU (vendor_id AuthenticAMD) on this "
                                        "aarch64 system: it belongs to the machine that emulates this one"}
    unavailable = {}
    assert cpu_model("armv7l", EPYC_CPUINFO.replace("vendor_id\t: AuthenticAMD\n", ""), unavailable) is None
    assert "model name 'AMD EPYC 7B13'" in unavailable["cpu_model"]


def test_the_real_cpu_is_reported_where_it_belongs():
    unavailable = {}
    assert cpu_model("aarch64", PI4_CPUINFO, unavailable) == "BCM2835" and unavailable == {}
    assert cpu_model("x86_64", EPYC_CPUINFO, unavailable) == "AMD EPYC 7B13" and unavailable == {}
    assert cpu_model("aarch64", None, unavailable) is None
    assert unavailable == {"cpu_model": "/proc/cpuinfo cannot be read"}
    assert not [e for e in emulation("aarch64", PI4_CPUINFO)["evidence"] if "cpuinfo" in e]


def test_emulation_evidence_from_this_kernel():
    """This machine's own kernel files read as if this process were aarch64, as under qemu-user."""
    own = platform.machine()
    with open("/proc/sys/kernel/arch") as handle:
        kernel = handle.read().strip()
    assert emulation(own, None) == {"emulated": False, "evidence": []}
    foreign = "aarch64" if arch_family(kernel) != "arm" else "x86_64"
    verdict = emulation(foreign, EPYC_CPUINFO if foreign == "aarch64" else PI4_CPUINFO)
    assert verdict["emulated"] is True
    assert verdict["evidence"][0] == f"the kernel is {kernel} (/proc/sys/kernel/arch) but this process runs as " \
                                     f"{foreign}"
    assert verdict["evidence"][1].startswith("/proc/cpuinfo describes an ")


def test_android_facts_degrade_to_null_with_reasons():
    """This machine has no getprop, no battery and no Termux:API: every Android fact is null with its reason."""
    unavailable = {}
    facts = android(unavailable, detected=True)
    assert set(facts) == {"ro.product.manufacturer", "ro.product.model", "ro.build.version.release",
                          "ro.soc.model", "ro.board.platform", "ro.product.cpu.abi", "battery_temp_c"}
    assert all(value is None for value in facts.values())
    assert unavailable["android.ro.product.model"] == "getprop is not installed"
    assert unavailable["android.battery_temp_c"] == ("/sys/class/power_supply/battery/temp does not exist; "
                                                     "termux-battery-status is not installed")
    assert android({}, detected=False) is None


def test_commands_that_fail_are_reasons_not_crashes():
    assert run_command("false") == (None, "false exited with code 1")
    assert run_command("true") == (None, "true printed nothing (not permitted or not set)")
    assert run_command("sleep", "5", timeout=0.2) == (None, "sleep gave no answer within 0.2 s")
    assert run_command("echo", "ok") == ("ok", "")


def test_info_is_strict_json_with_reasons():
    done = subprocess.run([sys.executable, "-m", "device_agent", "info"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and done.stderr == ""
    facts = json.loads(done.stdout, parse_constant=lambda name: 1 / 0)
    assert facts["machine"] == platform.machine()
    assert facts["emulated"] is False and facts["emulation_evidence"] == []
    assert all(facts[key.split(".")[0]] in (None, [], {}) or "." in key for key in facts["unavailable"])
    assert all(isinstance(reason, str) and reason for reason in facts["unavailable"].values())


def test_result_carries_emulation_and_validates(bundle, tmp_path):
    out = tmp_path / "r.json"
    done = agent("run", str(bundle), "--out", str(out), *FAST, "--artifacts", "onnx-fp32")
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    validate(result, "result", str(out))
    assert result["schema_version"] == 1 and result["schema_minor"] == 2
    assert result["emulated"] is False and result["device"]["emulated"] is False
    facts = device_facts()
    assert set(facts) - set(result["device"]) == set()
    for key in ("comparison", "schedule"):  # a result of minor 1 still validates
        result.pop(key)
    for key in ("config", "setting", "rounds_ms", "stability", "cold_start_ms", "sustained", "profile", "quantization"):
        result["runs"][0].pop(key)
    for key in ("p50_ci95", "ci_method", "ci_half_width_pct", "target_ci_met"):
        result["runs"][0]["latency_ms"].pop(key)
    result["schema_minor"] = 1
    validate(result, "result", "a result of schema 1.1")
    for key in ("schema_minor", "emulated"):  # a result of the minor before still validates
        result.pop(key)
    for key in ("emulated", "emulation_evidence", "unavailable"):
        result["device"].pop(key)
    validate(result, "result", "a result of schema 1.0")


def test_facts_under_qemu_user():
    """In the arm64 root of `make test-arm64` (qemu-user), the host's CPU is dropped and the run is emulated."""
    import os

    root = ROOT / ".cache" / "arm64" / "bookworm" / "root"
    if os.geteuid() != 0 or not (root / "usr" / "bin" / "python3").exists() or not (root / "proc" / "1").exists():
        pytest.skip("needs root and the arm64 root of `make test-arm64` with /proc mounted")
    code = ("import json, platform, sys, types\n"
            "module = types.ModuleType('device_info')\n"
            "exec(compile(sys.stdin.read(), 'device_info.py', 'exec'), module.__dict__)\n"
            "unavailable = {}\n"
            "cpuinfo = module.read_text('/proc/cpuinfo')[0]\n"
            "print(json.dumps({'machine': platform.machine(), 'unavailable': unavailable,\n"
            "                  'cpu_model': module.cpu_model(platform.machine(), cpuinfo, unavailable),\n"
            "                  'emulation': module.emulation(platform.machine(), cpuinfo)}))\n")
    source = (ROOT / "device_agent" / "device_info.py").read_text()
    done = subprocess.run(["chroot", str(root), "/usr/bin/python3", "-c", code], input=source, capture_output=True,
                          text=True, timeout=300)
    if done.returncode != 0 and "Exec format error" in done.stderr:
        pytest.skip("qemu-aarch64 is not registered with binfmt_misc")
    assert done.returncode == 0, done.stderr
    facts = json.loads(done.stdout)
    assert facts["machine"] == "aarch64" and facts["cpu_model"] is None
    assert "describes an x86 CPU" in facts["unavailable"]["cpu_model"]
    assert facts["emulation"]["emulated"] is True
    assert "the kernel is x86_64 (/proc/sys/kernel/arch) but this process runs as aarch64" in \
        facts["emulation"]["evidence"]
