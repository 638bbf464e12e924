"""Per-layer profiles in the report: the layers that take the time (named as in torch), the op types, the
shares of quantize/dequantize, float and integer kernels, and why an int8 artifact is not faster than its fp32
one where the profile shows it."""

from __future__ import annotations

import html as html_text
import json
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from device_agent.profiling import QUANTIZE_OPS
from device_agent.stats import ratio_ci, verdict
from edgebench.report import unavailable
from edgebench.report.sustained import documents, label
from edgebench.report.writers import html_table, markdown_table

TOP_LAYERS = 8
QUANTIZE_REASON_SHARE = 0.15  # at least this much of int8 time in Q/DQ nodes is worth naming
FLOAT_REASON_SHARE = 0.25  # at least this much of int8 time still in float kernels is worth naming
LAYOUT_REASON_SHARE = 0.15  # layout conversions ONNX Runtime inserts around integer kernels
LAYOUT_OPS = frozenset({"Transpose", "ReorderInput", "ReorderOutput"})


def profiled_runs(results: Sequence) -> Iterator[Tuple[Dict, Dict]]:
    for document in documents(results):
        for run in document.get("runs") or []:
            if isinstance(run.get("profile"), dict):
                yield document, run


def pct(share: Optional[float]) -> str:
    return "-" if share is None else f"{100 * share:.0f} %"


def top_layers(profile: Dict, count: int = TOP_LAYERS) -> List[Tuple[str, str, float, float]]:
    """(torch layer or the node's name, op types, ms, share) summed per layer, slowest first."""
    per_layer: Dict[str, List] = {}
    for node in profile.get("nodes") or []:
        name = node.get("layer") or f"({node['node']})"
        entry = per_layer.setdefault(name, [set(), 0.0, 0.0])
        entry[0].add(node["op_type"])
        entry[1] += node["ms"]
        entry[2] += node["share"]
    ranked = sorted(per_layer.items(), key=lambda item: -item[1][1])[:count]
    return [(name, "+".join(sorted(ops)), ms, share) for name, (ops, ms, share) in ranked]


def _latency(run: Dict) -> Optional[float]:
    return (run.get("latency_ms") or {}).get("p50")


def int8_is_not_faster(fp32: Dict, int8: Dict) -> Optional[str]:
    """None when int8 is faster, or when it only looks faster within the noise (the ranking says so already);
    else how the two compare ("slower, ratio 1.31 [1.27, 1.36]")."""
    a, b = fp32.get("rounds_ms"), int8.get("rounds_ms")
    if a and b:
        ratio = ratio_ci(a, b)
        said = verdict(ratio)
        if said == "faster" or ratio[0] < 1.0:
            return None
        return f"{said}, ratio {ratio[0]:.2f} [{ratio[1]:.2f}, {ratio[2]:.2f}]"
    if _latency(fp32) is None or _latency(int8) is None or _latency(int8) < _latency(fp32):
        return None
    return f"p50 {_latency(int8):.3f} ms against {_latency(fp32):.3f} ms (no rounds, no interval)"


def why_not_faster(fp32: Dict, int8: Dict) -> str:
    """One line from the int8 run's profile (and the fp32 run's, where present)."""
    int8_profile, fp32_profile = int8.get("profile"), fp32.get("profile")
    if not int8_profile or not int8_profile.get("available"):
        reason = (int8_profile or {}).get("reason") or "the run was not profiled (agent option --profile)"
        return f"no per-operator profile of the int8 artifact: {reason}"
    shares = {t["op_type"]: t["share"] for t in int8_profile.get("op_types", [])}
    counts = {t["op_type"]: t["count"] for t in int8_profile.get("op_types", [])}
    reasons = []
    quantize, floats = int8_profile.get("quantize_share") or 0.0, int8_profile.get("float_share") or 0.0
    if quantize >= QUANTIZE_REASON_SHARE:
        count = sum(counts[op] for op in counts if op in QUANTIZE_OPS)
        reasons.append(f"{pct(quantize)} of int8 time in QuantizeLinear/DequantizeLinear ({count} nodes)")
    layout = sum(shares[op] for op in shares if op in LAYOUT_OPS)
    if layout >= LAYOUT_REASON_SHARE:
        count = sum(counts[op] for op in counts if op in LAYOUT_OPS)
        reasons.append(f"{pct(layout)} in layout changes (Transpose/Reorder, {count} nodes)")
    if floats >= FLOAT_REASON_SHARE:
        slowest = next((n for n in int8_profile.get("nodes", []) if n.get("kind") == "float"), None)
        where = f", most in {slowest.get('layer') or slowest['node']} ({slowest['op_type']})" if slowest else ""
        reasons.append(f"float kernels take {pct(floats)} of int8 time{where}")
    if reasons:
        return "; ".join(reasons)
    if not fp32_profile or not fp32_profile.get("available"):
        return (f"integer kernels take {pct(int8_profile.get('int8_share'))} of int8 time; profile the fp32 "
                "artifact too to compare its kernels")
    int8_ms, fp32_ms = int8_profile["total_ms"], fp32_profile["total_ms"]
    if int8_ms < 0.97 * fp32_ms:
        outside = f": {_latency(int8) - int8_ms:.3f} ms of its {_latency(int8):.3f} ms p50 pass outside them" \
            if _latency(int8) and _latency(int8) > int8_ms else ""
        return (f"its kernels are faster ({int8_ms:.3f} against {fp32_ms:.3f} ms per inference) but the whole "
                f"inference is not{outside}")
    return (f"integer kernels take {pct(int8_profile.get('int8_share'))} of int8 time and are not faster than the "
            f"float kernels of fp32 on this CPU ({int8_ms:.3f} against {fp32_ms:.3f} ms per inference"
            f"{_worst_layer(fp32_profile, int8_profile)})")


def _worst_layer(fp32_profile: Dict, int8_profile: Dict) -> str:
    fp32_layers = {name: ms for name, _, ms, _ in top_layers(fp32_profile, 1000)}
    worst = max(((name, ms - fp32_layers[name]) for name, _, ms, _ in top_layers(int8_profile, 1000)
                 if name in fp32_layers), key=lambda item: item[1], default=None)
    return f"; {worst[0]} loses most: +{worst[1]:.3f} ms" if worst and worst[1] > 0 else ""


def int8_findings(results: Sequence) -> List[Tuple[str, str]]:
    """(who, line) for each int8 run not faster than the fp32 run of the same result, format and setting."""
    findings = []
    for document in documents(results):
        runs = [r for r in document.get("runs") or [] if not r.get("error") and r.get("latency_ms")]
        for int8 in (r for r in runs if str(r.get("precision")).startswith("int8")):
            setting = json.dumps(int8.get("setting"), sort_keys=True)
            fp32 = next((r for r in runs if r.get("precision") == "fp32" and r.get("format") == int8.get("format")
                         and json.dumps(r.get("setting"), sort_keys=True) == setting), None)
            if fp32 is None:
                continue
            comparison = int8_is_not_faster(fp32, int8)
            if comparison is None:
                continue
            device, model, config = label(document, int8)
            line = (f"{config} is not faster than {fp32.get('config') or fp32.get('artifact')} ({comparison}): "
                    f"{why_not_faster(fp32, int8)}")
            findings.append((f"{device} {model}", line))
    return findings


def _profile_rows(results: Sequence) -> List[List[str]]:
    rows = []
    for document, run in profiled_runs(results):
        profile = run["profile"]
        device, model, config = label(document, run)
        if not profile.get("available"):
            rows.append([device, model, config, "-", "-", "-", "-",
                         f"unavailable: {unavailable.kind_of(profile.get('reason', '?'))[0]}"])
            continue
        layers = ", ".join(f"{name} {ms:.3f} ms ({pct(share)})" for name, _, ms, share in top_layers(profile, 3))
        rows.append([device, model, config, f"{profile['total_ms']:.3f}", pct(profile.get("quantize_share")),
                     pct(profile.get("float_share")), pct(profile.get("int8_share")), layers])
    return rows


def _unavailable(results: Sequence) -> List[str]:
    """Each kind of unavailability's explanation once (the rows name the kind)."""
    return unavailable.explanations(run["profile"].get("reason", "") for _, run in profiled_runs(results)
                                    if not run["profile"].get("available"))


HEADERS = ("device", "model", "configuration", "kernels ms", "quantize", "float", "integer", "top layers")


def markdown(results: Sequence) -> List[str]:
    rows = _profile_rows(results)
    findings = int8_findings(results)
    if not rows and not findings:
        return []
    lines = ["## Per-layer profile", ""]
    if rows:
        lines += ["Shares of the summed kernel time per inference, from the runtime's own profiler; layers are the "
                  "torch modules the nodes came from.", ""]
        lines += markdown_table(HEADERS, rows)
        lines += [line for text in _unavailable(results) for line in ("", f"Unavailable: {text}.")]
    for document, run in profiled_runs(results):
        profile = run["profile"]
        if not profile.get("available"):
            continue
        lines += ["", f"### {' '.join(label(document, run))}", ""]
        lines += markdown_table(("layer", "op types", "ms", "share"),
                                [[name, ops, f"{ms:.3f}", pct(share)] for name, ops, ms, share in top_layers(profile)])
        types = ", ".join(f"{t['op_type']} {pct(t['share'])} (x{t['count']})" for t in profile.get("op_types", [])[:6])
        lines += ["", f"Op types: {types}."]
    if findings:
        lines += ["", "### Why int8 is not faster", ""] + [f"- {who}: {line}" for who, line in findings]
    return lines


def html(results: Sequence, out_dir=None) -> str:
    """The same section as HTML (tables only: no plot)."""
    rows = _profile_rows(results)
    findings = int8_findings(results)
    if not rows and not findings:
        return ""
    parts = ["<h2 id='profile'>Per-layer profile</h2>"]
    if rows:
        parts.append(html_table(HEADERS, rows, table_id="profile-table"))
        parts += [f"<p class='unavailable'>Unavailable: {html_text.escape(text)}.</p>" for text in _unavailable(results)]
    for document, run in profiled_runs(results):
        if not run["profile"].get("available"):
            continue
        layers = [[name, ops, f"{ms:.3f}", pct(share)] for name, ops, ms, share in top_layers(run["profile"])]
        parts.append(f"<h3>{html_text.escape(' '.join(label(document, run)))}</h3>"
                     + html_table(("layer", "op types", "ms", "share"), layers, css_class="profile-layers",
                                  column_classes=("text", "text", "", "")))
    if findings:
        parts.append("<h3>Why int8 is not faster</h3><ul id='int8-reasons'>" +
                     "".join(f"<li>{html_text.escape(who)}: {html_text.escape(line)}</li>" for who, line in findings)
                     + "</ul>")
    return "\n".join(parts)
