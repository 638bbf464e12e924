"""`eb.prune_study`, `eb.ablation`, `eb.demo` and `eb.devices`: the commands' checks as keyword arguments, the
`EdgebenchError` kinds with their exit codes, nothing printed unless asked, and the objects they return. Fast:
every call here fails its checks before any training or export, or checks only this machine and a closed port."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

import edgebench as eb
from edgebench.ablation.table import build_table


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("call, message", [
    (lambda d: eb.prune_study(d, threads=0), "threads 0 is out of range: give a thread count >= 1"),
    (lambda d: eb.prune_study(d, min_seconds=float("nan")), "min_seconds nan is not a finite number"),
    (lambda d: eb.prune_study(d, max_drop=-1), "max_drop -1 is out of range: give a number >= 0"),
    (lambda d: eb.prune_study(d, executor="process:0"), "executor: executor 'process:0' needs a worker count"),
    (lambda d: eb.ablation("resnet50", out=d), "arch 'resnet50' is not one of 'resnet101', 'vgg19'"),
    (lambda d: eb.ablation("resnet101", epochs=0, out=d), "epochs 0 is out of range: give a whole number >= 1"),
    (lambda d: eb.ablation("resnet101", lr=float("inf"), out=d), "lr inf is not a finite number"),
    (lambda d: eb.ablation("resnet101", seed=-1, out=d), "seed -1 is out of range"),
    (lambda d: eb.ablation("resnet101", schedule="cosine", out=d), "schedule 'cosine' is not one of"),
    (lambda d: eb.demo(out=d, epochs=0), "epochs 0 is out of range: give a whole number >= 1"),
    (lambda d: eb.demo(out=d, threads=True), "threads True is not an integer"),
])
def test_bad_options_raise_bad_option_error_before_any_work(call, message, tmp_path, capsys):
    with pytest.raises(eb.BadOptionError) as raised:
        call(tmp_path / "out")
    assert raised.value.exit_code == 2 and message in str(raised.value)
    assert not (tmp_path / "out").exists() and capsys.readouterr().out == ""


@pytest.mark.parametrize("call", [
    lambda d: eb.ablation("resnet101", variants="13", epochs=1, limit=32, device="cpu", out=d),
    lambda d: eb.demo(out=d),
])
def test_a_folder_of_the_users_is_refused_and_kept(call, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "paper.md").write_text("# results\n")
    with pytest.raises(eb.EdgebenchError) as raised:
        call(mine)
    assert raised.value.exit_code == 1 and "was not created by edgebench" in str(raised.value)
    assert sorted(p.name for p in mine.iterdir()) == ["paper.md"] and capsys.readouterr().out == ""


def test_prune_study_of_a_folder_without_a_run_writes_nothing(tmp_path):
    with pytest.raises(eb.EdgebenchError) as raised:
        eb.prune_study(tmp_path / "nothing")
    assert raised.value.exit_code == 1 and "nothing" in str(raised.value)
    assert list(tmp_path.iterdir()) == []


def test_devices_returns_one_check_per_device(tmp_path, capsys):
    port = _closed_port()
    (tmp_path / "devices.yaml").write_text(f"pi5:\n  host: 127.0.0.1\n  user: pi\n  port: {port}\n  python: python3\n")
    checks = eb.devices(tmp_path / "devices.yaml")
    assert [type(c).__name__ for c in checks] == ["DeviceCheck", "DeviceCheck"] and capsys.readouterr().out == ""
    local, pi = checks
    assert (local.name, local.address, pi.name, pi.address) == ("local", "this machine", "pi5",
                                                                  f"pi@127.0.0.1:{port}")
    assert local.ok and local.python and "onnxruntime" in local.runtimes
    assert not pi.ok and pi.python is None and "Connection refused" in pi.status
    assert json.loads(json.dumps([c.to_dict() for c in checks]))[1]["runtimes"] == []
    eb.devices(tmp_path / "devices.yaml", progress=True)
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == ["local", "pi5"]
    with pytest.raises(eb.EdgebenchError, match="does not exist") as raised:
        eb.devices(tmp_path / "missing.yaml")
    assert raised.value.exit_code == 1


def test_study_and_ablation_objects_are_tables_with_rows():
    study = eb.PruneStudy(path=Path("s"), rows=({"iteration": 0, "sparsity": 0.0, "fp32_accuracy": 91.5},
                                                {"iteration": 1, "sparsity": 20.0, "fp32_accuracy": 91.25}))
    lines = repr(study).splitlines()
    assert len(lines) == 4 and lines[1].split()[:3] == ["it", "sparsity", "%"] and lines[3].split()[:2] == ["1", "20"]
    assert study.to_dict()["rows"][1]["fp32_accuracy"] == 91.25 and study.to_dict()["budget"] is None
    measured = [{"variant": f"resnet101-v{i}", "params": 1000 * i, "mflops": 10.0 * i, "accuracy": 90.0 + i}
                for i in (1, 2)]
    table = build_table("resnet101", measured, "resnet101-v1", max_drop=1.0)
    ablation = eb.Ablation(path=Path("a"), arch="resnet101", baseline=table.baseline, rows=tuple(table.rows),
                           max_drop=1.0, table=table)
    assert len(repr(ablation).splitlines()) == 4 and "<table>" in ablation._repr_html_()
    assert ablation.smallest == "resnet101-v1" and ablation.to_dict()["rows"][1]["drop_pp"] == -1.0


def test_new_names_are_exported_and_their_modules_stay_modules():
    import edgebench.ablation.spec
    import edgebench.devices.spec

    assert {"prune_study", "ablation", "demo", "devices"} <= set(dir(eb)) and callable(eb.ablation)
    assert edgebench.ablation.spec.ARCHES == ("resnet101", "vgg19") and callable(edgebench.devices.spec.load_devices)
