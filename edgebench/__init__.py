"""edgebench: compress CNN image classifiers, export them to ONNX and TFLite, measure them on devices.

    import edgebench as eb
    bundle = eb.export(model, data=(x_train, y_train, x_test, y_test), precisions=["fp32", "int8"], out="bundles/m")
    result = eb.bench(bundle, device="local", threads=[1, 2])
    rep = eb.report([result], max_drop=1.0)

The API's names are loaded on first use, so `import edgebench` stays light (no torch, no onnx). Nine of them
share their name with a subpackage or module (`export`, `report`, `train`, `prune`, `models`, `optimize`,
`ablation`, `demo`, `devices`): `eb.export` is then the subpackage made callable, so `eb.export(...)` calls
the function and `edgebench.export.pipeline` is still the module, whichever was imported first.
"""

import importlib
import sys
import types

from edgebench.errors import (BadInputError, BadOptionError, DeviceError, EdgebenchError, MissingDependencyError,
                              RefusedArtifactError, UnknownNameError)

__version__ = "0.1.0"

_API = ("Ablation", "Answer", "Artifact", "Bundle", "DemoRun", "DeviceCheck", "Diagnosis", "ModelInfo", "PruneRun",
        "PruneStudy", "Report", "Result", "Run", "Trained", "ablation", "bench", "demo", "devices", "diagnose",
        "digits", "export", "models", "optimize", "prune", "prune_study", "report", "train")
_SUBPACKAGES = ("export", "report", "train", "prune", "models", "optimize", "ablation", "demo", "devices")

__all__ = ["BadInputError", "BadOptionError", "DeviceError", "EdgebenchError", "MissingDependencyError",
           "RefusedArtifactError", "UnknownNameError", "__version__", *_API]


class _CallableModule(types.ModuleType):
    """A subpackage named like an API function: calling it calls `edgebench.api.NAME`."""

    def __call__(self, *args, **kwargs):
        from edgebench import api

        return getattr(api, self.__name__.rpartition(".")[2])(*args, **kwargs)


class _Package(types.ModuleType):
    """`edgebench` itself: a subpackage bound here under an API function's name becomes callable."""

    def __setattr__(self, name, value):
        if name in _SUBPACKAGES and type(value) is types.ModuleType:
            value.__class__ = _CallableModule
        super().__setattr__(name, value)


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")  # binding it here makes it callable
    if name in _API:
        from edgebench import api

        return getattr(api, name)
    raise AttributeError(f"module 'edgebench' has no attribute '{name}'")


def __dir__():
    return sorted(set(globals()) | set(_API))


sys.modules[__name__].__class__ = _Package
