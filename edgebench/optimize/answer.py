"""The answer: `optimize.json` (every candidate, stage, figure, reason and device second, checked against its
schema), `optimize.md`, `optimize.html` with plots, the `winner/` bundle and the one line for the terminal."""

from __future__ import annotations

import html
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Dict, List, Optional

from edgebench.fileio import write_json, write_text
from edgebench.optimize import plots, study
from edgebench.optimize.bundles import winner_bundle
from edgebench.optimize.search import REASONS
from edgebench.report.writers import html_figure, html_table, markdown_table, with_notes

REPORT_KIND = "edgebench.optimize"
REPORT_VERSION = 1
SCHEMA = Path(__file__).with_name("optimize.schema.json")
NOT_REJECTED = ("winner", "accepted", "indistinguishable")


def write_outputs(*, spec, journal, entries: Dict[str, Dict], sources: Dict[str, Dict], decision, ledger,
                  fingerprint: Dict, stopped: Optional[str], stages: List[Dict], wall_s: float,
                  source_rows: Optional[List[Dict]] = None) -> Dict:
    """`sources`: where each kept artifact lies; `source_rows`: the models the candidates were made from."""
    out = journal.folder
    report = build_report(spec=spec, entries=entries, decision=decision, ledger=ledger, fingerprint=fingerprint,
                          stopped=stopped, stages=stages, wall_s=wall_s, source_rows=source_rows)
    validate_report(report)
    if decision.winner is not None and decision.winner in sources:
        winner_bundle(out / "winner", decision.winner, sources[decision.winner],
                      decision.setting.to_json() if decision.setting else None)
    elif (out / "winner").is_dir():  # an earlier run's winner must not stand beside a report that names none
        shutil.rmtree(out / "winner")
    write_json(out / "optimize.json", report)
    write_text(out / "optimize.md", markdown(report))
    write_text(out / "optimize.html", html_page(report))
    journal.record_run({"answer": report["answer"], "device_seconds": report["device_seconds"]["spent"],
                        "stopped": stopped})
    return report


def build_report(*, spec, entries, decision, ledger, fingerprint, stopped, stages, wall_s,
                 source_rows: Optional[List[Dict]] = None) -> Dict:
    counts = Counter(entry["reason"] for entry in entries.values())
    report = {
        "kind": REPORT_KIND, "schema_version": REPORT_VERSION, "model": spec.source.model, "device": spec.device,
        "device_fingerprint": fingerprint, "objective": spec.objective, "max_drop_pp": spec.max_drop,
        "space": spec.space.to_json(), "stopped": stopped,
        "device_seconds": {"budget": spec.budget_s, "spent": round(ledger.spent, 3),
                           "by_stage": {k: round(v, 3) for k, v in ledger.by_stage.items()},
                           "cached_measurements": ledger.cached_hits},
        "decision": {"winner": decision.winner, "setting": decision.setting.to_json() if decision.setting else None,
                     "confirmed": decision.confirmed, "separated": decision.separated, "speedup": decision.speedup,
                     "note": decision.note},
        "counts": {reason: counts.get(reason, 0) for reason in REASONS},
        "candidates": list(entries.values()), "stages": stages, "wall_s": round(wall_s, 2),
        "sources": list(source_rows or []),
    }
    shown = len(report["sources"]) > 1 or any(s["kind"] == "variant" for s in report["sources"])
    report["study"] = study.rows(report) if shown else []
    report["answer"] = answer_line(report, spec.out)
    return report


def _setting_text(setting: Optional[Dict]) -> str:
    if not setting:
        return ""
    parts = [f"{setting['threads']} thread{'s' if setting['threads'] != 1 else ''}"]
    if setting.get("xnnpack") is not None:
        parts.append("XNNPACK" if setting["xnnpack"] else "no XNNPACK")
    if setting.get("ort_graph_optimization") is not None:
        parts.append(f"graph optimisation {setting['ort_graph_optimization']}")
    return ", ".join(parts)


def answer_line(report: Dict, out: Path) -> str:
    decision, counts = report["decision"], report["counts"]
    total = sum(counts.values())
    rejected = total - sum(counts[r] for r in NOT_REJECTED)
    tail = f"{total} candidates, {rejected} rejected (why: {Path(out) / 'optimize.html'})"
    if decision["winner"] is None:
        why = report["stopped"] or decision["note"] or "no device measurement fit in the budget"
        return f"no answer: {why}; {tail}"
    entry = next(e for e in report["candidates"] if e["name"] == decision["winner"])
    mix = entry.get("quantization") or {}
    layers = (f" ({mix['float_layers']} of {mix['quantizable_layers']} layers float)"
              if mix.get("float_layers") is not None and mix.get("quantizable_layers") else "")
    speed = decision["speedup"]
    interval = f"[{speed['ratio_ci95'][0]:.2f}, {speed['ratio_ci95'][1]:.2f}]" if speed else ""
    if not speed:
        faster = "the fp32 baseline itself"
    elif speed["verdict"] == "slower":  # fp32 is the slower one: the winner is faster, separated
        faster = f"{speed['ratio']:.2f}x faster than fp32 {interval}"
    else:
        faster = f"{speed['ratio']:.2f}x fp32's speed {interval}, not told apart from fp32"
    drop = entry["host"].get("drop_pp")
    figures = f"{faster}, {-drop:+.1f} pp, {entry['bytes'] / 2**20:.2f} MiB" if drop is not None else faster
    caveat = "" if decision["confirmed"] else " (not confirmed by the long run)"
    return f"ship {entry['name']}{layers}, {_setting_text(decision['setting'])}: {figures}{caveat}; {tail}"


def validate_report(report: Dict) -> None:
    """optimize.json against its schema; counts add up to the candidates."""
    import jsonschema  # a dependency of the host package

    jsonschema.validate(report, json.loads(SCHEMA.read_text(encoding="utf-8")))
    assert sum(report["counts"].values()) == len(report["candidates"]), report["counts"]


def _row(entry: Dict) -> List[str]:
    host = entry.get("host") or {}
    latency = plots.device_latency(entry)
    return [entry["name"], entry["reason"], f"{-host['drop_pp']:+.2f}" if host.get("drop_pp") is not None else "-",
            f"{entry['bytes'] / 2**20:.3f}" if entry.get("bytes") else "-",
            f"{latency:.3f}" if latency is not None else "-", entry.get("detail", "")]


HEADERS = ("candidate", "reason", "accuracy change (pp)", "MiB", "device ms", "why")


def markdown(report: Dict) -> str:
    seconds = report["device_seconds"]
    lines = [f"# optimize {report['model']} on {report['device']}", "", report["answer"], "",
             f"Objective {report['objective']}, accuracy budget {report['max_drop_pp']:g} pp; device seconds "
             f"{seconds['spent']:.1f} of {seconds['budget']:.0f} ({seconds['cached_measurements']} measurement(s) "
             "from the cache).", ""]
    lines += markdown_table(HEADERS, (_row(e) for e in report["candidates"]))
    if report.get("study"):
        headers, rows = study.cells(report["study"])
        lines += ["", f"## {study.title(report)}", "", study.NOTE, ""] + markdown_table(headers, rows)
    lines += ["", "## Device seconds per stage", ""]
    lines += markdown_table(("stage", "device s"), ([k, f"{v:.1f}"] for k, v in seconds["by_stage"].items()))
    notes = [report["decision"]["note"], f"stopped: {report['stopped']}" if report["stopped"] else ""]
    return with_notes(lines, notes)


def html_page(report: Dict) -> str:
    parts = [f"<h1>optimize {html.escape(report['model'])} on {html.escape(report['device'])}</h1>",
             f"<p id='answer'>{html.escape(report['answer'])}</p>"]
    figures = (("accuracy against latency", plots.accuracy_against(report["candidates"], "latency")),
               ("accuracy against size", plots.accuracy_against(report["candidates"], "size")),
               ("the confirmation run: winner, runner-up and fp32", plots.winner_against_fp32(report["candidates"])),
               ("device seconds per stage", plots.device_seconds(report["device_seconds"]["by_stage"])))
    for caption, png in figures:
        if png is not None:
            parts.append(html_figure(png, caption, caption))
    if report.get("study"):
        headers, rows = study.cells(report["study"])
        parts += [f"<h2>{html.escape(study.title(report))}</h2>", f"<p>{html.escape(study.NOTE)}</p>",
                  html_table(headers, rows, table_id="study", css_class="study")]
        png = study.plot(report["study"])
        if png is not None:
            parts.append(html_figure(png, "sources", "each source's best artifact: accuracy against latency"))
    groups = Counter(e["reason"] for e in report["candidates"])
    for reason in REASONS:
        if groups.get(reason):
            rows = [_row(e) for e in report["candidates"] if e["reason"] == reason]
            parts += [f"<h2>{html.escape(reason)} ({groups[reason]})</h2>", html_table(HEADERS, rows,
                                                                                          css_class="candidates")]
    body = "\n".join(parts)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>optimize {html.escape(report['model'])}"
            f"</title><style>body{{font-family:sans-serif;max-width:60em;margin:auto}}td,th{{padding:2px 8px;"
            f"text-align:left}}img{{max-width:100%}}</style></head><body>{body}</body></html>\n")
