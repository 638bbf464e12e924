"""fp32 ONNX -> TensorFlow (onnx2tf, once) -> one .tflite per requested precision (TFLiteConverter).

onnx2tf is asked only for its in-memory Keras model (`disable_model_save`): it writes no fp32/fp16 files
nobody asked for and never reaches its own int8 path. One SavedModel with a single serving signature is
written, and every requested precision is converted from it, calibrated on the same real images and
normalisation as the ONNX int8 artifact.

`convert(Precision.INT8, float_layers)` keeps the named layers of the fp32 ONNX graph in float and the rest full
integer (`selective.py`); `mixed.py` picks those layers for an accuracy budget.

Offline: onnx2tf downloads sample images for any 4-D input with 3 channels last and a small static batch.
Conversion runs in a scratch folder that already holds that file, made from the calibration images, so the
download is never reached.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path
from typing import Callable, Dict, Iterator, Optional, Sequence

import numpy as np

from device_agent.backends.tflite_backend import TfliteBackend
from edgebench.errors import EdgebenchError, require
from edgebench.export.onnx_nodes import attribute
from edgebench.export.spec import Layout, Precision
from edgebench.export.tflite.fixes import apply_fixes
from edgebench.export.tflite.quiet import native_output_silenced
from edgebench.export.tflite.selective import SelectiveQuantizer
from edgebench.progress import Progress, disabled

ONNX2TF_SAMPLE_FILE = "calibration_image_sample_data_20x128x128x3_float32.npy"
SIGNATURE = "serving_default"


@contextlib.contextmanager
def _conversion_env(work: Path) -> Iterator[None]:
    """cwd = scratch folder (onnx2tf looks for its sample file there); the venv's bin on PATH (onnxsim)."""
    previous_cwd, previous_path = os.getcwd(), os.environ.get("PATH", "")
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + previous_path
    os.chdir(work)
    try:
        with native_output_silenced():
            yield
    finally:
        os.chdir(previous_cwd)
        os.environ["PATH"] = previous_path


def _batch_of_one(model):
    """The graph onnx2tf gets takes one image: TFLite artifacts run one image at a time, and a dynamic batch
    sends onnx2tf down slower paths that fail on batched attention MatMuls (a small ViT) and take up to ten
    times longer to convert. `Shape` nodes of tensors whose shape is now static become constants (the class
    token of a ViT takes its batch from the input's shape), and the constant folding fix folds what follows."""
    import onnx  # onnx: heavy, loaded only when a graph is read or built
    from onnx import helper, numpy_helper  # onnx: heavy, loaded only when a graph is read or built

    initializers = {init.name for init in model.graph.initializer}
    for value in [i for i in model.graph.input if i.name not in initializers] + list(model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if len(dims) and not (dims[0].HasField("dim_value") and dims[0].dim_value > 0):
            dims[0].Clear()
            dims[0].dim_value = 1
    del model.graph.value_info[:]  # shapes inferred for a dynamic batch; inferred again below
    inferred = onnx.shape_inference.infer_shapes(model)
    static = {}
    for value in list(inferred.graph.value_info) + list(inferred.graph.input):
        dims = value.type.tensor_type.shape.dim
        if value.type.tensor_type.HasField("shape") and all(d.HasField("dim_value") and d.dim_value > 0
                                                             for d in dims):
            static[value.name] = [d.dim_value for d in dims]
    for index, node in enumerate(model.graph.node):
        if node.op_type == "Shape" and node.input[0] in static:
            shape = static[node.input[0]]
            start, end = _attribute_int(node, "start", 0), _attribute_int(node, "end", len(shape))
            constant = numpy_helper.from_array(np.asarray(shape[start:end], np.int64), node.output[0])
            model.graph.node[index].CopyFrom(helper.make_node("Constant", [], [node.output[0]], value=constant,
                                                              name=node.name or None))
    return model


def _attribute_int(node, name: str, default: int) -> int:
    return int(attribute(node, name, default))


def _sample_file(calibration_nchw: np.ndarray, mean, std, target: Path) -> None:
    """onnx2tf's sample data format: 20 float32 RGB images in [0, 1], 128x128, NHWC."""
    import tensorflow as tf  # TensorFlow: heavy, loaded only when a TFLite file is made

    images = calibration_nchw[:20].transpose(0, 2, 3, 1) * np.asarray(std, np.float32) + np.asarray(mean, np.float32)
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    while len(images) < 20:
        images = np.concatenate([images, images])[:20]
    resized = tf.image.resize(np.clip(images, 0, 1), (128, 128)).numpy().astype(np.float32)
    np.save(target, resized)


class TfliteConverter:
    """Holds the converted TensorFlow graph; `convert(precision)` returns .tflite bytes.

    `convert(Precision.INT8, float_layers)` keeps those layers (node names of the fp32 ONNX graph the converter
    was built from) in float and the rest full integer; `convert_mixed` also says which TFLite ops that meant."""

    def __init__(self, onnx_path: Path, work: Path, layout: Layout, calibration_nchw: np.ndarray,
                 mean, std, input_name: str = "input", simplify: bool = True, progress: Optional[Progress] = None):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        self.progress = progress if progress is not None else disabled()  # bars over the calibration images
        with native_output_silenced():  # TensorFlow announces oneDNN and absl on import
            self.tf = require("tensorflow", "convert")
            self.onnx2tf = require("onnx2tf", "convert")
        self.layout = layout
        work, onnx_path = Path(work).absolute(), Path(onnx_path).absolute()  # conversion runs in another cwd
        self.work = work
        self.onnx_path = onnx_path
        self.calibration_nchw = calibration_nchw
        self.calibration = calibration_nchw.transpose(0, 2, 3, 1) if layout == Layout.NHWC else calibration_nchw
        self.fixes: Dict[str, int] = {}
        self._selective = None  # SelectiveQuantizer, made on the first mixed conversion
        work.mkdir(parents=True, exist_ok=True)
        source = self._prepare_onnx(onnx_path, work / "model.onnx")  # onnx2tf rewrites its input: give it a copy
        _sample_file(calibration_nchw, mean, std, work / ONNX2TF_SAMPLE_FILE)
        keep = [input_name] if layout == Layout.NCHW else None
        try:
            with _conversion_env(work):
                model = self.onnx2tf.convert(input_onnx_file_path=str(source), output_folder_path=str(work / "tf"),
                                             disable_model_save=True, non_verbose=True,
                                             not_use_onnxsim=not simplify,
                                             keep_ncw_or_nchw_or_ncdhw_input_names=keep,
                                             # TFLite has no Erf kernel; onnx2tf's polynomial is within 1.5e-7
                                             replace_to_pseudo_operators=["erf"])
        except SystemExit as exc:  # onnx2tf exits the process on some conversion errors
            raise EdgebenchError(f"onnx2tf cannot convert this model (exit {exc.code}); the ONNX artifacts are "
                                 "not affected") from None
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise EdgebenchError(f"onnx2tf cannot convert this model: {first[:200]}; the ONNX artifacts are "
                                 "not affected") from None
        if model is None:
            raise EdgebenchError("onnx2tf produced no model; the ONNX artifacts are not affected")
        self.saved_model = work / "saved_model"
        try:
            self._write_saved_model(model)
        except Exception as exc:  # TensorFlow rejects what onnx2tf built (names, shapes)
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise EdgebenchError(f"the TensorFlow graph onnx2tf built cannot be saved: {first[:200]}; the ONNX "
                                 "artifacts are not affected") from None

    def _prepare_onnx(self, source: Path, target: Path) -> Path:
        import onnx  # onnx: heavy, loaded only when a graph is read or built


        model, self.fixes = apply_fixes(_batch_of_one(onnx.load(str(source))))
        onnx.save(model, str(target))
        return target

    def _write_saved_model(self, model) -> None:
        import tf_keras  # TensorFlow: heavy, loaded only when a TFLite file is made

        tf = self.tf
        archive = tf_keras.export.ExportArchive()
        archive.add_endpoint(name=SIGNATURE, fn=lambda *inputs: model(inputs),
                             input_signature=[tf.TensorSpec(t.shape, t.dtype, t.name) for t in model.inputs])
        with native_output_silenced():
            archive.write_out(str(self.saved_model))

    def convert(self, precision: Precision, float_layers: Sequence[str] = ()) -> bytes:
        if float_layers:
            if precision != Precision.INT8:
                raise EdgebenchError(f"float layers apply to int8 only, not to TFLite {precision.value}: give "
                                     "no float layers or convert int8")
            return self.convert_mixed(float_layers).model
        tf = self.tf
        converter = tf.lite.TFLiteConverter.from_saved_model(str(self.saved_model))
        if precision == Precision.FP16:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        elif precision == Precision.DYNAMIC:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        elif precision == Precision.INT8:
            self._full_int8_options(converter)
        try:
            with native_output_silenced():
                return converter.convert()
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise EdgebenchError(f"TFLite {precision.value} conversion failed: {first[:200]}") from None

    def convert_mixed(self, float_layers: Sequence[str]):
        """Full int8 but for `float_layers` -> `selective.MixedTflite` (the model, the TFLite ops kept in float,
        the layers without a TFLite counterpart). An empty list gives full int8 through the same passes."""
        return self._selective_quantizer().quantize(float_layers)

    def layer_names(self) -> Sequence[str]:
        """The node names `float_layers` may hold: those of the fp32 ONNX graph, in topological order."""
        return self._selective_quantizer().node_names()

    def layer_ops(self) -> Dict[str, Optional[str]]:
        """Each node of the fp32 ONNX graph -> the TFLite op computing its output (None where there is none)."""
        return self._selective_quantizer().tflite_ops()

    def _selective_quantizer(self):
        if self._selective is None:
            self._selective = SelectiveQuantizer(tf=self.tf, saved_model=self.saved_model, onnx_path=self.onnx_path,
                                                 layout=self.layout, calibration_nchw=self.calibration_nchw,
                                                 configure=self._full_int8_options, work=self.work)
        return self._selective

    def _full_int8_options(self, converter) -> None:
        tf, calibration = self.tf, self.calibration

        def representative():  # TFLite's calibration: a bar over the images while the converter runs them
            with self.progress.counter(total=len(calibration), desc="TFLite calibration images", unit="img") as step:
                for index in range(len(calibration)):
                    yield [calibration[index:index + 1]]
                    step()

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8

    def close(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)


def tflite_io(path: Path) -> Dict:
    """Input/output contract and quantization parameters, read back through the interpreter."""
    backend = TfliteBackend()
    with native_output_silenced():  # the interpreter announces its XNNPACK delegate on stderr
        backend.load(str(path), 1)
    model_input, model_output = backend.input_detail, backend.output_detail
    signature = [int(d) for d in model_input.get("shape_signature", model_input["shape"])]

    def quant(detail) -> Optional[Dict]:
        scale, zero_point = detail["quantization"]
        return {"scale": float(scale), "zero_point": int(zero_point)} if scale else None

    return {
        "input": {"name": model_input["name"], "shape": signature, "dtype": np.dtype(model_input["dtype"]).name},
        "output": {"name": model_output["name"], "shape": [int(d) for d in model_output["shape"]],
                   "dtype": np.dtype(model_output["dtype"]).name},
        "input_quantization": quant(model_input), "output_quantization": quant(model_output),
        "runtime": backend.version(),
    }


def tflite_logits(path: Path, inputs_nchw: np.ndarray, layout: Layout, threads: int = 0,
                  advance: Optional[Callable[[int], None]] = None) -> np.ndarray:
    """Run the artifact the way the device agent does (same backend, same quantize/dequantize); `advance(1)` is
    told of each image run (a progress bar's). `threads` 0: every core (TFLite's own default is one thread; the
    outputs do not depend on the thread count, the gate's time does: 28 % less on ResNet-101 int8 with 2)."""
    inputs = inputs_nchw.transpose(0, 2, 3, 1) if layout == Layout.NHWC else inputs_nchw
    backend = TfliteBackend()
    with native_output_silenced():
        backend.load(str(path), threads or os.cpu_count() or 1)
    outputs = []
    for i in range(len(inputs)):
        outputs.append(backend.finish(backend.invoke(backend.prepare(np.ascontiguousarray(inputs[i:i + 1])))))
        if advance is not None:
            advance(1)
    backend.close()
    return np.concatenate(outputs)
