"""The Python API: one function per command, taking the command's options as keywords (same names, same
defaults, same checks) and returning objects (`Bundle`, `Result`, `Report`, ...). The command line is a thin
layer over these: it parses, calls them, prints, and maps `EdgebenchError`s to exit codes.

Nothing here prints unless asked (`progress=True`) or calls `sys.exit`; torch and the converters are imported
only inside the functions that need them.
"""

from edgebench.api.ablation import Ablation, ablation
from edgebench.api.bench import bench
from edgebench.api.bundle import Artifact, Bundle
from edgebench.api.demo import DemoRun, demo
from edgebench.api.devices import DeviceCheck, devices
from edgebench.api.diagnose import Diagnosis, diagnose
from edgebench.api.export import export
from edgebench.api.inputs import digits
from edgebench.api.models import ModelInfo, models
from edgebench.api.optimize import optimize
from edgebench.api.prune import PruneRun, prune
from edgebench.api.report import Answer, Report, report
from edgebench.api.result import Result, Run
from edgebench.api.study import PruneStudy, prune_study
from edgebench.api.train import Trained, train

__all__ = ["Ablation", "Answer", "Artifact", "Bundle", "DemoRun", "DeviceCheck", "Diagnosis", "ModelInfo", "PruneRun",
           "PruneStudy", "Report", "Result", "Run", "Trained", "ablation", "bench", "demo", "devices", "diagnose",
           "digits", "export", "models", "optimize", "prune", "prune_study", "report", "train"]
