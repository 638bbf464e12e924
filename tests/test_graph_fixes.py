"""Each ONNX rewrite applied before onnx2tf: the patterns it must catch, the ones it must leave alone, and
exact equality through ONNX Runtime before and after, on tiny hand-built graphs at opsets 13 and 18."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from edgebench.export.tflite.fixes import FIXES, apply_fixes  # noqa: E402
from edgebench.export.tflite.fixes.ceil_pool import ceil_maxpools_edge_padded  # noqa: E402
from edgebench.export.tflite.fixes.channel_pad import channel_pads_as_conv  # noqa: E402
from edgebench.export.tflite.fixes.grouped_conv import split_grouped_convs  # noqa: E402
from edgebench.export.tflite.fixes.strided_slice import strided_slices_as_conv  # noqa: E402

BIG = np.iinfo(np.int64).max


def _model(nodes, in_shape, out_shape, initializers=(), opset=18):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)], list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _constants(values: dict, as_nodes: bool):
    """The same int64 constants as initializers or as Constant nodes (the legacy exporter's form)."""
    arrays = {name: numpy_helper.from_array(np.asarray(v, np.int64), name) for name, v in values.items()}
    if as_nodes:
        return [helper.make_node("Constant", [], [name], value=t) for name, t in arrays.items()], []
    return [], list(arrays.values())


def _run(model, x):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def _rewrite_exactly(rewrite, model, shape, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    before = _run(model, x)
    rewritten, count = rewrite(model)
    after = _run(rewritten, x)
    assert after.shape == before.shape
    assert np.array_equal(after, before)
    return rewritten, count


def _sliced_shape(shape, starts, ends, axes, steps):
    index = [slice(None)] * len(shape)
    for start, end, axis, step in zip(starts, ends, axes, steps):
        index[axis % len(shape)] = slice(start, end, step)
    return list(np.zeros(shape)[tuple(index)].shape)


def _ops(model):
    return [node.op_type for node in model.graph.node]


@pytest.mark.parametrize("as_nodes", [False, True])
@pytest.mark.parametrize("opset", [13, 18])
def test_option_a_subsample_becomes_strided_depthwise_conv(opset, as_nodes):
    constants, inits = _constants({"s": [0, 0], "e": [BIG, BIG], "a": [2, 3], "t": [2, 2]}, as_nodes)
    model = _model(constants + [helper.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"])],
                   [1, 16, 16, 16], [1, 16, 8, 8], inits, opset)
    rewritten, count = _rewrite_exactly(strided_slices_as_conv, model, (1, 16, 16, 16))
    assert count == 1 and _ops(rewritten) == ["Conv"]  # the whole range: no Slice left, the Constants dropped
    conv = rewritten.graph.node[0]
    assert {a.name: helper.get_attribute_value(a) for a in conv.attribute}["strides"] == [2, 2]


@pytest.mark.parametrize("starts, ends, axes, steps, shape", [
    ([1], [BIG], [-1], [3], (2, 5, 7, 11)),                  # negative axis, offset start, step 3, odd size
    ([1, 2], [6, -1], [2, 3], [2, 4], (1, 3, 9, 13)),         # explicit ends, a negative end
    ([0, 1, 0], [BIG, 5, BIG], [3, 1, 2], [2, 1, 1], (1, 6, 4, 9)),  # channels sliced too, step on W only
    ([0, 0], [BIG, BIG], [1, 2], [2, 2], (1, 8, 8, 8)),       # a step on channels stays in the Slice
])
def test_strided_slice_any_window_is_exact(starts, ends, axes, steps, shape):
    constants, inits = _constants({"s": starts, "e": ends, "a": axes, "t": steps}, as_nodes=False)
    expected = _sliced_shape(shape, starts, ends, axes, steps)
    model = _model(constants + [helper.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"])], list(shape),
                   list(expected), inits)
    rewritten, count = _rewrite_exactly(strided_slices_as_conv, model, shape)
    assert count == 1 and _ops(rewritten) == ["Slice", "Conv"]


def test_slices_without_a_spatial_step_are_left_alone():
    constants, inits = _constants({"s": [0, 2], "e": [4, BIG], "a": [1, 2], "t": [1, 1]}, as_nodes=False)
    model = _model(constants + [helper.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"])],
                   [1, 8, 8, 8], [1, 4, 6, 8], inits)
    assert strided_slices_as_conv(model)[1] == 0
    constants, inits = _constants({"s": [BIG], "e": [-BIG], "a": [3], "t": [-1]}, as_nodes=False)  # flip
    model = _model(constants + [helper.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"])],
                   [1, 8, 8, 8], [1, 8, 8, 8], inits)
    assert strided_slices_as_conv(model)[1] == 0


@pytest.mark.parametrize("as_nodes", [False, True])
@pytest.mark.parametrize("opset", [13, 18])
def test_option_a_channel_pad_becomes_placing_conv(opset, as_nodes):
    constants, inits = _constants({"p": [0, 8, 0, 0, 0, 8, 0, 0]}, as_nodes)
    model = _model(constants + [helper.make_node("Pad", ["x", "p"], ["y"], mode="constant")],
                   [1, 16, 8, 8], [1, 32, 8, 8], inits, opset)
    rewritten, count = _rewrite_exactly(channel_pads_as_conv, model, (1, 16, 8, 8))
    assert count == 1 and _ops(rewritten) == ["Conv"]
    weight = numpy_helper.to_array(rewritten.graph.initializer[0])
    assert weight.shape == (32, 16, 1, 1) and weight.sum() == 16 and weight[8, 0, 0, 0] == 1


@pytest.mark.parametrize("pads, value, out_shape", [
    ([0, 3, 1, 0, 0, 1, 2, 2], 0.0, [2, 9, 8, 7]),      # channels and space, uneven amounts
    ([0, 2, 0, 0, 0, 0, 0, 0], -1.5, [2, 7, 5, 5]),     # a non-zero pad value fills the new channels
    ([0, -2, 0, 0, 0, 1, 0, 0], 0.0, [2, 4, 5, 5]),     # negative pads crop channels
])
def test_channel_pad_any_amount_and_value_is_exact(pads, value, out_shape):
    inits = [numpy_helper.from_array(np.asarray(pads, np.int64), "p"),
             numpy_helper.from_array(np.asarray(value, np.float32), "v")]
    model = _model([helper.make_node("Pad", ["x", "p", "v"], ["y"])], [2, 5, 5, 5], out_shape, inits, 13)
    rewritten, count = _rewrite_exactly(channel_pads_as_conv, model, (2, 5, 5, 5))
    assert count == 1
    assert _ops(rewritten) == (["Pad", "Conv"] if any(pads[2:4] + pads[6:8]) else ["Conv"])


def test_channel_pad_with_axes_input_opset18_is_exact():
    inits = [numpy_helper.from_array(np.asarray([4, 4], np.int64), "p"),
             numpy_helper.from_array(np.asarray([-3], np.int64), "a")]
    model = _model([helper.make_node("Pad", ["x", "p", "", "a"], ["y"])], [1, 4, 6, 6], [1, 12, 6, 6], inits, 18)
    rewritten, count = _rewrite_exactly(channel_pads_as_conv, model, (1, 4, 6, 6))
    assert count == 1 and _ops(rewritten) == ["Conv"]


def test_spatial_and_reflect_pads_are_left_alone():
    inits = [numpy_helper.from_array(np.asarray([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "p")]
    model = _model([helper.make_node("Pad", ["x", "p"], ["y"])], [1, 4, 6, 6], [1, 4, 8, 8], inits)
    assert channel_pads_as_conv(model)[1] == 0
    inits = [numpy_helper.from_array(np.asarray([0, 2, 0, 0, 0, 2, 0, 0], np.int64), "p")]
    model = _model([helper.make_node("Pad", ["x", "p"], ["y"], mode="reflect")], [1, 4, 6, 6], [1, 8, 6, 6], inits)
    assert channel_pads_as_conv(model)[1] == 0


@pytest.mark.parametrize("opset", [13, 18])
def test_grouped_conv_at_matching_width_is_split(opset):
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((16, 2, 1, 1)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.standard_normal(16).astype(np.float32), "b")]
    model = _model([helper.make_node("Conv", ["x", "w", "b"], ["y"], group=4)], [1, 8, 4, 4], [1, 16, 4, 4],
                   inits, opset)
    x = rng.standard_normal((1, 8, 4, 4)).astype(np.float32)
    before = _run(model, x)
    rewritten, count = split_grouped_convs(model)
    assert count == 1 and _ops(rewritten) == ["Split"] + ["Conv"] * 4 + ["Concat"]
    np.testing.assert_allclose(_run(rewritten, x), before, rtol=1e-6, atol=1e-6)  # same sums, other order


def test_apply_fixes_counts_each_rewrite_by_name():
    constants, inits = _constants({"s": [0, 0], "e": [BIG, BIG], "a": [2, 3], "t": [2, 2],
                                   "p": [0, 8, 0, 0, 0, 8, 0, 0]}, as_nodes=True)
    nodes = constants + [helper.make_node("Slice", ["x", "s", "e", "a", "t"], ["sub"]),
                         helper.make_node("Pad", ["sub", "p"], ["y"])]
    model = _model(nodes, [1, 16, 16, 16], [1, 32, 8, 8], inits, 13)
    rewritten, counts = _rewrite_exactly(apply_fixes, model, (1, 16, 16, 16))
    assert counts == {"strided_slices_as_conv": 1, "channel_pads_as_conv": 1}
    assert _ops(rewritten) == ["Conv", "Conv"]
    assert [fix.name for fix in FIXES] == ["constants_folded", "strided_slices_as_conv", "channel_pads_as_conv",
                                           "grouped_convs_split", "ceil_maxpools_edge_padded", "gelus_as_one_op",
                                           "node_names_sanitised"]


def test_pad_amounts_computed_from_constants_are_folded_then_rewritten():
    """The TorchScript exporter's form: the pads come out of Reshape/Slice/Transpose/Cast of Constants."""
    constants, _ = _constants({"raw": [0, 0, 0, 0, 4, 4, 0, 0], "shape": [-1, 2], "s": [-1], "e": [-BIG], "a": [0],
                               "t": [-1], "flat": [-1]}, as_nodes=True)
    nodes = constants + [
        helper.make_node("Reshape", ["raw", "shape"], ["pairs"]),
        helper.make_node("Slice", ["pairs", "s", "e", "a", "t"], ["reversed"]),
        helper.make_node("Transpose", ["reversed"], ["columns"], perm=[1, 0]),
        helper.make_node("Reshape", ["columns", "flat"], ["amounts"]),
        helper.make_node("Cast", ["amounts"], ["pads"], to=TensorProto.INT64),
        helper.make_node("Pad", ["x", "pads"], ["y"], mode="constant"),
    ]
    model = _model(nodes, [1, 4, 6, 6], [1, 12, 6, 6], opset=13)
    rewritten, counts = _rewrite_exactly(apply_fixes, model, (1, 4, 6, 6))
    assert counts == {"constants_folded": 5, "channel_pads_as_conv": 1}
    assert _ops(rewritten) == ["Conv"]


def test_node_names_tensorflow_refuses_are_renamed_and_tensors_kept():
    from edgebench.export.tflite.fixes.names import sanitise_node_names

    nodes = [helper.make_node("Relu", ["x"], ["h"], name="/6/left/left.0/Relu"),
             helper.make_node("Neg", ["h"], ["y"], name="ok.name/Neg")]
    model = _model(nodes, [1, 2, 3, 3], [1, 2, 3, 3])
    rewritten, count = _rewrite_exactly(sanitise_node_names, model, (1, 2, 3, 3))
    assert count == 1
    assert [n.name for n in rewritten.graph.node] == ["6/left/left.0/Relu", "ok.name/Neg"]
    assert [list(n.output) for n in rewritten.graph.node] == [["h"], ["y"]]


@pytest.mark.parametrize("size, kernel, stride, ops", [
    (14, 3, 2, ["Pad", "MaxPool"]),  # ceil adds a window: one edge row/column
    (16, 3, 2, ["Pad", "MaxPool"]),
    (13, 3, 2, ["MaxPool"]),  # ceil and floor agree: only the flag goes
    (10, 2, 3, ["Pad", "MaxPool"]),
])
def test_ceil_mode_maxpool_becomes_edge_pad_and_floor_pool_exactly(size, kernel, stride, ops):
    """SqueezeNet's pools: onnx2tf pads ceil mode with the lowest float, which wrecks int8 scales."""
    out = -(-(size - kernel) // stride) + 1
    out -= 1 if (out - 1) * stride >= size else 0
    pool = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[kernel, kernel], strides=[stride, stride],
                            ceil_mode=1)
    model = _model([pool], [1, 4, size, size], [1, 4, out, out], opset=13)
    rewritten, count = _rewrite_exactly(ceil_maxpools_edge_padded, model, (1, 4, size, size))
    assert count == 1 and _ops(rewritten) == ops
    assert all(a.name != "ceil_mode" for node in rewritten.graph.node for a in node.attribute)


def test_floor_mode_and_padded_pools_are_left_alone():
    floor = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2])
    assert ceil_maxpools_edge_padded(_model([floor], [1, 4, 14, 14], [1, 4, 6, 6]))[1] == 0
    padded = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                              ceil_mode=1)
    assert ceil_maxpools_edge_padded(_model([padded], [1, 4, 14, 14], [1, 4, 8, 8]))[1] == 0


def _gelu_nodes(order: str):
    """GELU written out as torch's exporters write it: dynamo's 0.5 * (1 + erf) then * x, or TorchScript's
    x * (1 + erf) then * 0.5."""
    scalars = [numpy_helper.from_array(np.asarray(v, np.float32), n)
               for n, v in (("root2", np.sqrt(2.0)), ("one", 1.0), ("half", 0.5))]
    first, second = (["half", "x"] if order == "dynamo" else ["x", "half"])
    nodes = [helper.make_node("Div", ["x", "root2"], ["d"], name="div"),
             helper.make_node("Erf", ["d"], ["e"], name="erf"),
             helper.make_node("Add", ["e", "one"], ["a"], name="add"),
             helper.make_node("Mul", [first, "a"], ["m"], name="mul"),
             helper.make_node("Mul", ["m", second], ["y"], name="gelu")]
    return nodes, scalars


@pytest.mark.parametrize("order", ["dynamo", "torchscript"])
def test_written_out_gelu_becomes_one_gelu_node_exactly(order):
    from edgebench.export.tflite.fixes.gelu import gelus_as_one_op

    nodes, scalars = _gelu_nodes(order)
    model = _model(nodes, [2, 3, 4, 4], [2, 3, 4, 4], scalars, opset=18)
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 4)).astype(np.float32) * 3
    before = _run(model, x)
    fixed, count = gelus_as_one_op(model)
    assert count == 1 and [n.op_type for n in fixed.graph.node] == ["Gelu"]
    assert next(o.version for o in fixed.opset_import if o.domain in ("", "ai.onnx")) == 20
    assert np.abs(_run(fixed, x) - before).max() < 1e-5


def test_gelu_is_left_alone_below_opset_18_and_when_shared():
    from edgebench.export.tflite.fixes.gelu import gelus_as_one_op

    nodes, scalars = _gelu_nodes("dynamo")
    old = _model(nodes, [1, 3], [1, 3], scalars, opset=17)
    assert gelus_as_one_op(old)[1] == 0  # raising 17 to 20 would change ReduceMean's and Split's signatures
    nodes, scalars = _gelu_nodes("dynamo")
    nodes[-1] = helper.make_node("Mul", ["m", "x"], ["z"], name="gelu")
    nodes.append(helper.make_node("Add", ["z", "e"], ["y"], name="reads_erf"))  # erf's output read twice
    assert gelus_as_one_op(_model(nodes, [1, 3], [1, 3], scalars))[1] == 0
