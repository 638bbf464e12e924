"""Parameter and compute counts: MACs for the product, fvcore FLOPs in the study's convention."""

from __future__ import annotations

from dataclasses import dataclass

# Operators whose fvcore count is multiply-accumulates; the rest (BatchNorm, pooling) are not MACs.
_MAC_OPERATORS = {"conv", "linear", "matmul", "addmm", "bmm", "einsum"}


@dataclass(frozen=True, kw_only=True)
class ModelStats:
    params: int
    macs: int
    flops: int  # fvcore total: one multiply-add is one FLOP and BatchNorm counts (the study's columns)

    def as_dict(self) -> dict:
        return {"params": self.params, "macs": self.macs, "flops": self.flops}


def count_params(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def model_stats(model, input_shape) -> ModelStats:
    import torch  # torch: heavy, loaded only when this runs
    from fvcore.nn import FlopCountAnalysis  # fvcore: optional, loaded only when FLOPs are counted

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            analysis = FlopCountAnalysis(model, torch.zeros(*input_shape))
            analysis.unsupported_ops_warnings(False)
            analysis.uncalled_modules_warnings(False)
            by_operator = analysis.by_operator()
    finally:
        model.train(was_training)
    macs = sum(count for op, count in by_operator.items() if op in _MAC_OPERATORS)
    return ModelStats(params=count_params(model), macs=int(macs), flops=int(sum(by_operator.values())))
