"""edgebench: compress CNN image classifiers, export them to ONNX and TFLite, measure them on devices."""

__version__ = "0.1.0"
