"""How far each artifact runs from what the device can do: achieved GMAC/s (the model's MACs / p50) against the
device's attainable GMAC/s for that format and precision (the agent's probes: one large convolution timed once
per run), and which artifacts are bound by compute and which by per-op overhead.

Reading: a model that reaches a good share of the probe's rate spends its time in dense arithmetic (compute-
bound: fewer MACs or faster kernels help); one far below it spends its time elsewhere (per-op dispatch, memory
traffic of thin layers, quantize/dequantize and layout ops: overhead-bound, where fewer and larger ops help and
int8 may not). A probe the runtime refused or that crashed costs only its column; the reason is said once."""

from __future__ import annotations

import html as html_text
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from edgebench.report.writers import html_table, markdown_table

COMPUTE_BOUND_SHARE = 0.40  # at or above this share of the probe's GMAC/s an artifact is called compute-bound
MAX_SHARE = 1.2  # a model more than 20 % above its probe's rate means the probe missed the peak
HEADERS = ("device", "model", "configuration", "MMACs", "p50 ms", "GMAC/s", "peak GMAC/s", "share", "bound by")


@dataclass(frozen=True, kw_only=True)
class Efficiency:
    device: str
    model: str
    config: str
    threads: Optional[int]
    macs: int
    p50_ms: float
    achieved_gmacs: float
    peak_gmacs: Optional[float]
    peak_note: Optional[str]  # why there is no peak to compare with

    @property
    def share(self) -> Optional[float]:
        """None without a peak, and where the model beats its probe by more than MAX_SHARE: then the probe did
        not measure the device's peak (a busy machine, or a slower kernel path for the probe's shape)."""
        if not self.peak_gmacs or self.achieved_gmacs / self.peak_gmacs > MAX_SHARE:
            return None
        return self.achieved_gmacs / self.peak_gmacs

    @property
    def bound(self) -> Optional[str]:
        if self.share is None:
            return None
        return "compute" if self.share >= COMPUTE_BOUND_SHARE else "per-op overhead"


def achieved_gmacs(macs: int, p50_ms: float) -> float:
    """Multiply-accumulates per second, in billions, at the median latency."""
    return macs / (p50_ms / 1000.0) / 1e9


def probe_key(fmt: str, precision: str) -> Tuple[str, str]:
    """The probe an artifact is measured against: int8 kernels against the int8 probe, all else against fp32."""
    return fmt, "int8" if str(precision).startswith("int8") else "fp32"


def peaks(document: Dict) -> Tuple[Dict[Tuple[str, str], Dict], Dict[Tuple[str, str], str]]:
    """(format, precision) -> the probe record with GMAC/s, and -> the reason for the probes that failed."""
    found, failed = {}, {}
    for record in (document.get("device") or {}).get("probes") or []:
        key = (record.get("format"), record.get("precision"))
        if record.get("gmacs"):
            found[key] = record
        else:
            failed[key] = record.get("error") or "no figure"
    return found, failed


def rows(results: Sequence) -> List[Efficiency]:
    out = []
    for loaded in results:
        document = getattr(loaded, "document", loaded)
        macs = ((document.get("bundle") or {}).get("model") or {}).get("macs")
        if not macs or "probes" not in (document.get("device") or {}):  # results from before the probes
            continue
        found, failed = peaks(document)
        threads = (document.get("settings") or {}).get("threads")
        for run in document.get("runs") or []:
            if run.get("error") or not (run.get("latency_ms") or {}).get("p50"):
                continue
            run_threads = (run.get("setting") or {}).get("threads", threads)
            key = probe_key(run.get("format"), run.get("precision"))
            probe, note = found.get(key), None
            if probe is None:
                note = f"probe {key[0]}-{key[1]}: " + (failed.get(key) or "not in this bundle or result")
            elif probe.get("threads") != run_threads:
                probe, note = None, f"probe {key[0]}-{key[1]} measured at {found[key].get('threads')} threads"
            p50 = float(run["latency_ms"]["p50"])
            out.append(Efficiency(device=document["device"]["name"], model=document["bundle"]["model"]["name"],
                                  config=run.get("config") or run["artifact"], threads=run_threads, macs=int(macs),
                                  p50_ms=p50, achieved_gmacs=achieved_gmacs(int(macs), p50),
                                  peak_gmacs=probe["gmacs"] if probe else None, peak_note=note))
    return out


def _cells(entry: Efficiency) -> List[str]:
    return [entry.device, entry.model, f"{entry.config} threads={entry.threads}", f"{entry.macs / 1e6:.1f}",
            f"{entry.p50_ms:.3f}", f"{entry.achieved_gmacs:.2f}",
            f"{entry.peak_gmacs:.1f}" if entry.peak_gmacs else "-",
            f"{100 * entry.share:.0f} %" if entry.share is not None else "-", entry.bound or "-"]


def _notes(entries: Sequence[Efficiency]) -> List[str]:
    notes = sorted({entry.peak_note for entry in entries if entry.peak_note})
    notes += sorted({f"the {e.config} probe ran at {e.peak_gmacs:.1f} GMAC/s, below the model's {e.achieved_gmacs:.1f}: "
                     "not the device's peak (a busy machine, or a slower kernel for the probe)"
                     for e in entries if e.peak_gmacs and e.share is None})
    return [f"No peak for some rows ({note}): their share is left out." for note in notes]


def summary(entries: Sequence[Efficiency]) -> List[str]:
    """One line per bound: which configurations are compute-bound and which overhead-bound."""
    lines = []
    for bound in ("compute", "per-op overhead"):
        names = [f"{e.model} {e.config} ({100 * e.share:.0f} %)" for e in entries if e.bound == bound]
        if names:
            lines.append(f"Bound by {bound}: {', '.join(names)}.")
    return lines


EXPLANATION = ("Achieved GMAC/s is the model's multiply-accumulates divided by its p50; the peak is what the "
               "device attains on one large convolution of the same format and precision (the bundle's probe, "
               f"timed once per run). At or above {100 * COMPUTE_BOUND_SHARE:.0f} % of the peak an artifact is "
               "bound by compute; below, by per-op overhead (dispatch, memory traffic of thin layers, quantize and "
               "layout ops), where fewer, larger ops help more than fewer MACs.")


def markdown(results: Sequence) -> List[str]:
    entries = rows(results)
    if not entries or all(e.peak_gmacs is None for e in entries) and not any(e.peak_note for e in entries):
        return []
    lines = ["## Efficiency: how far from the device's peak", "", EXPLANATION, ""]
    lines += markdown_table(HEADERS, [_cells(e) for e in entries])
    extra = summary(entries) + _notes(entries)
    return lines + ([""] + extra if extra else [])


def html(results: Sequence, out_dir=None) -> str:
    entries = rows(results)
    if not entries or all(e.peak_gmacs is None for e in entries) and not any(e.peak_note for e in entries):
        return ""
    parts = ["<h2 id='efficiency'>Efficiency: how far from the device's peak</h2>",
             f"<p>{html_text.escape(EXPLANATION)}</p>",
             html_table(HEADERS, [_cells(e) for e in entries], table_id="efficiency-table")]
    parts += [f"<p>{html_text.escape(line)}</p>" for line in summary(entries) + _notes(entries)]
    return "\n".join(parts)
