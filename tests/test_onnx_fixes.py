"""ONNX files ONNX Runtime refuses as exported: SAME padding with dilation made explicit, exactly; ORT's own error
log kept out of the terminal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgebench.export.onnx_fixes import explicit_same_pads, same_pads


@pytest.mark.parametrize("spatial,kernel,stride,dilation,upper,expected", [
    ([16], [3], [1], [2], True, [2, 2]),  # effective kernel 5: 4 pixels, 2 each side
    ([16], [4], [1], [3], True, [4, 5]),  # effective kernel 10: 9 pixels, the odd one at the end
    ([16], [4], [1], [3], False, [5, 4]),  # ... at the start
    ([17], [3], [2], [1], True, [1, 1]),  # output 9: (9 - 1) * 2 + 3 - 17 = 2
    ([16], [3], [2], [1], True, [0, 1]),  # output 8: (8 - 1) * 2 + 3 - 16 = 1
    ([5], [1], [3], [1], True, [0, 0]),  # never negative
])
def test_same_pads_follow_the_onnx_definition(spatial, kernel, stride, dilation, upper, expected):
    assert same_pads(spatial, kernel, stride, dilation, upper=upper) == expected


def _same_net():
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Conv2d(3, 8, 3, padding="same", dilation=2)
            self.b = torch.nn.Conv2d(8, 8, 4, padding="same", dilation=3, groups=8)
            self.c = torch.nn.Conv2d(8, 8, (2, 5), padding="same", dilation=(2, 1))
            self.fc = torch.nn.Linear(8, 4)

        def forward(self, x):
            x = torch.relu(self.a(x))
            x = torch.relu(self.b(x))
            return self.fc(self.c(x).mean((2, 3)))

    torch.manual_seed(0)
    return Net().eval()


def _plain_export(module, path: Path, shape) -> Path:
    """The file a user brings: torch.onnx.export's TorchScript exporter, as is."""
    import torch

    torch.onnx.export(module, torch.randn(*shape), str(path), dynamo=False, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "n"}, "logits": {0: "n"}})
    return path


def _run(path: Path, images: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: images})[0]


def test_dilated_same_convolution_runs_with_torch_outputs(tmp_path, capfd):
    import onnx
    import torch

    from edgebench.export.onnx_input import inspect_input, load_model, prepare_onnx, run_error

    module = _same_net()
    source = _plain_export(module, tmp_path / "same.onnx", (1, 3, 17, 16))
    modes = [n.attribute for n in onnx.load(str(source)).graph.node if n.op_type == "Conv"]
    assert all(any(a.name == "auto_pad" and a.s == b"SAME_UPPER" for a in attrs) for attrs in modes)
    assert run_error(source, 3, (17, 16), 1).startswith("node '/a/Conv' (Conv): Dilation not supported")
    assert capfd.readouterr().err == ""  # ONNX Runtime's own error log stays out of the terminal
    model = load_model(source)
    changes = prepare_onnx(model, tmp_path / "fixed.onnx", inspect_input(model, "same.onnx"), (17, 16), 3, "x")
    assert changes["graph_fixes"] == {"explicit_same_pads": 3}
    fixed = onnx.load(str(tmp_path / "fixed.onnx"))
    pads = {n.name: list(next(a.ints for a in n.attribute if a.name == "pads")) for n in fixed.graph.node
            if n.op_type == "Conv"}
    assert pads == {"/a/Conv": [2, 2, 2, 2], "/b/Conv": [4, 4, 5, 5], "/c/Conv": [1, 2, 1, 2]}
    assert run_error(tmp_path / "fixed.onnx", 3, (17, 16), 2) is None
    images = np.random.default_rng(0).normal(size=(4, 3, 17, 16)).astype(np.float32)
    with torch.no_grad():
        reference = module(torch.from_numpy(images)).numpy()  # torch computes "same" without auto_pad
    assert np.abs(_run(tmp_path / "fixed.onnx", images) - reference).max() < 1e-5


@pytest.mark.parametrize("mode", ["SAME_UPPER", "SAME_LOWER"])
@pytest.mark.parametrize("kernel,stride", [(3, 1), (4, 1), (3, 2), (4, 2)])
def test_explicit_pads_equal_onnx_runtimes_own_same_padding(tmp_path, mode, kernel, stride):
    """Without dilation ONNX Runtime runs SAME padding itself: the rewrite gives the same output, bit for bit
    up to float rounding, for both modes, odd and even kernels and strides."""
    import onnx
    from onnx import helper, numpy_helper

    weight = np.random.default_rng(kernel).normal(size=(4, 3, kernel, kernel)).astype(np.float32)
    node = helper.make_node("Conv", ["input", "w"], ["out"], name="conv", auto_pad=mode, strides=[stride, stride],
                            kernel_shape=[kernel, kernel])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT,
                                                                          [2, 3, 15, 16])],
                              [helper.make_tensor_value_info("out", onnx.TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(weight, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save(model, str(tmp_path / "auto.onnx"))
    assert explicit_same_pads(model) == 1
    assert not any(a.name == "auto_pad" for a in model.graph.node[0].attribute)
    onnx.save(model, str(tmp_path / "explicit.onnx"))
    images = np.random.default_rng(1).normal(size=(2, 3, 15, 16)).astype(np.float32)
    auto, explicit = _run(tmp_path / "auto.onnx", images), _run(tmp_path / "explicit.onnx", images)
    assert auto.shape == explicit.shape == (2, 4, -(-15 // stride), -(-16 // stride))
    assert np.abs(auto - explicit).max() < 1e-5


def test_a_file_that_still_cannot_run_is_one_line_naming_node_and_op(tmp_path, capfd):
    import onnx
    from onnx import helper, numpy_helper

    from edgebench.export.onnx_input import run_error

    shape = numpy_helper.from_array(np.array([-1, 7], np.int64), "shape")
    graph = helper.make_graph([helper.make_node("Reshape", ["input", "shape"], ["out"], name="head/reshape")], "g",
                              [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, ["n", 3, 4, 4])],
                              [helper.make_tensor_value_info("out", onnx.TensorProto.FLOAT, None)], [shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save(model, str(tmp_path / "bad.onnx"))
    message = run_error(tmp_path / "bad.onnx", 3, (4, 4), 1)
    assert message.startswith("node 'head/reshape' (Reshape): ") and "\n" not in message
    assert capfd.readouterr().err == ""
