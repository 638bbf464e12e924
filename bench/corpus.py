"""The conversion corpus: every architecture in tests/corpus, exported three ways, converted to TFLite.

One row per architecture and route: converted (per precision), max |diff| against ONNX Runtime on the same
ONNX file, that difference relative to the largest reference logit, top-1 agreement, conversion seconds, and
the graph fixes applied. Random weights with randomised normalisation statistics; 32 normalised random inputs.

    python bench/corpus.py [--models resnet20-a,vit-tiny] [--routes python,legacy,dynamo]
                           [--precisions fp32,fp16] [--json results.json] [--executor process:2]

Each (model, route) is one task on the executor (`local` one after another, `process:N`, `ray[:ADDRESS]`);
the table is the same under each, in the same order.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import List, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import table  # noqa: E402


def _cell(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def header_for(precisions) -> list:
    each = "/".join(precisions)
    return ["model", "route, opset", f"converted ({each})", f"max abs diff ({each})", f"relative ({each})",
            f"agreement % ({each})", f"seconds ({each})", "graph fixes"]


def rows_for(checks) -> list:
    """One table row per (model, route): the precisions side by side, separated by slashes."""
    grouped = {}
    for check in checks:
        grouped.setdefault((check.model, check.route, check.opset), []).append(check)
    rows = []
    for (model, route, opset), group in grouped.items():
        rows.append([
            model, f"{route} {opset}",
            " / ".join("yes" if c.converted else "NO" for c in group),
            " / ".join(_cell(c.max_abs_diff, ".1e") for c in group),
            " / ".join(_cell(c.relative_diff, ".1e") for c in group),
            " / ".join(_cell(None if c.top1_agreement is None else 100 * c.top1_agreement, ".0f") for c in group),
            " / ".join(_cell(c.seconds, ".1f") for c in group),
            ", ".join(f"{k} {v}" for k, v in group[0].fixes.items()) or "-",
        ])
    return rows


@dataclass(frozen=True, kw_only=True)
class CorpusTask:
    model: str
    route: str
    precisions: Tuple[str, ...]
    scratch: str


def check_task(task: CorpusTask) -> list:
    """One model through one route, every precision: the checks (a task any executor can run)."""
    from edgebench.export.spec import Precision
    from tests.corpus.check import check

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return check(task.model, task.route, [Precision(p) for p in task.precisions],
                 Path(task.scratch) / f"{task.model}-{task.route}")


def run_checks(models: List[str], routes: List[str], precisions: List[str], scratch: str, executor: str) -> list:
    """Every (model, route) on `executor`; the checks in (model, route) order whatever finished first."""
    from edgebench.executor import make_executor
    from edgebench.executor.display import follow

    tasks = [CorpusTask(model=model, route=route, precisions=tuple(precisions), scratch=scratch)
             for model in models for route in routes]
    results: dict = {}
    with make_executor(executor) as runner:
        outcomes = runner.map(check_task, tasks, names=[f"{t.model} {t.route}" for t in tasks])
        for outcome in follow(outcomes, total=len(tasks), slots=runner.slots,
                              note=lambda line: print(line, file=sys.stderr, flush=True)):
            if not outcome.ok:
                raise SystemExit(f"{outcome.name} failed: {outcome.error}")
            results[outcome.index] = outcome.value
            for result in outcome.value:
                print(json.dumps({**asdict(result), "relative_diff": result.relative_diff}), file=sys.stderr,
                      flush=True)
    return [check for index in sorted(results) for check in results[index]]


def main() -> None:
    from edgebench.errors import EdgebenchError
    from edgebench.executor import parse_executor
    from tests.corpus import CORPUS
    from tests.corpus.check import ROUTES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(CORPUS))
    parser.add_argument("--routes", default=",".join(ROUTES))
    parser.add_argument("--precisions", default="fp32,fp16")
    parser.add_argument("--json", type=Path, help="also write every check as JSON here")
    parser.add_argument("--executor", default="local", help="local, process:N or ray[:ADDRESS] (default: local)")
    args = parser.parse_args()
    try:
        parse_executor(args.executor)
    except EdgebenchError as exc:
        parser.exit(2, f"error: {exc}\n")
    precisions = args.precisions.split(",")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # Worker processes and a Ray cluster started here find the corpus (tests/) through the environment.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory() as scratch:
        checks = run_checks(args.models.split(","), args.routes.split(","), precisions, scratch, args.executor)
    if args.json:
        args.json.write_text(json.dumps([{**asdict(c), "relative_diff": c.relative_diff} for c in checks], indent=1))
    print(table(header_for(precisions), rows_for(checks)))
    floats = [c for c in checks if c.precision in ("fp32", "fp16")]
    for precision in ("fp32", "fp16"):
        relative = sorted(c.relative_diff for c in floats if c.precision == precision and c.converted)
        if relative:
            failed = sum(1 for c in floats if c.precision == precision and not c.converted)
            ninetieth = relative[int(0.9 * (len(relative) - 1))]
            print(f"{precision}: {len(relative)} converted, {failed} failed; relative max |diff| median "
                  f"{relative[len(relative) // 2]:.1e}, 90th percentile {ninetieth:.1e}, max {relative[-1]:.1e}")


if __name__ == "__main__":
    main()
