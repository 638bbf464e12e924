"""One row of the report's comparison: a measured configuration with its deltas against the reference (its own
module, so the interval tests and the table share it without importing each other)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict, Optional, Tuple


@dataclass(frozen=True, kw_only=True)
class Row:
    device: str
    model: str
    artifact: str
    format: str
    precision: str
    threads: int
    size_mib: Optional[float]
    accuracy: Optional[float]  # percent
    eval_count: Optional[int]
    p50_ms: float
    p90_ms: float
    cv: Optional[float]
    runs: int
    peak_rss_mb: Optional[float]
    source: str
    params: Optional[int] = None
    macs: Optional[int] = None
    export_agreement: Optional[float] = None  # percent, measured by export on the host
    eval_sha256: Optional[str] = None
    flags: Tuple[str, ...] = ()
    baseline: Optional[str] = None
    drop_pp: Optional[float] = None
    speedup: Optional[float] = None
    size_ratio: Optional[float] = None
    memory_ratio: Optional[float] = None
    baseline_model: Optional[str] = None
    emulated: bool = False
    eval_limit: Optional[int] = None
    # Schema minor 2: the configuration (artifact and setting), the p50's 95 % interval over rounds, the
    # agent's stability verdict, and the round medians the comparisons are made from.
    config: Optional[str] = None
    setting: Optional[str] = None  # the setting as sorted JSON: rows of one artifact differ by it in a sweep
    p50_ci95: Optional[Tuple[float, float]] = None
    ci_half_width_pct: Optional[float] = None
    stability: Optional[str] = None
    stability_reason: Optional[str] = None
    rounds_ms: Tuple[float, ...] = ()
    interleaved: Optional[bool] = None
    speedup_verdict: Optional[str] = None  # this row against the reference: faster, slower or indistinguishable

    def as_dict(self) -> Dict:
        return asdict(self)

    @property
    def label(self) -> str:
        """The configuration where the agent named one (artifact and setting), else the artifact."""
        return self.config or self.artifact

    @property
    def domain(self) -> Tuple:
        """Rows with the same domain may be compared: same evaluation set, both real or both emulated."""
        return (self.eval_sha256, self.eval_limit, self.emulated)
