"""Accuracy-aware int8 for ONNX: the calibration search, per-layer sensitivity and the mixed-precision plan.

`search.mixed_int8` is the one entry point: it measures full int8 against the fp32 artifact on the eval set,
searches the calibration, checks that int8 weights alone can meet the budget, ranks the layers by sensitivity
and keeps the fewest most sensitive ones in float that bring the drop within the budget.
"""
