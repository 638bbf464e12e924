# %% [markdown]
# # edgebench from Python
#
# Train a small CNN in memory, export it to fp32 and int8 ONNX, measure both on this machine, and ask which one
# to ship within a 1-point accuracy budget. Cells are marked `# %%` (VS Code, PyCharm and Jupytext open this file
# as a notebook); `python examples/notebook.py` runs it top to bottom.

# %%
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

import edgebench as eb

work = Path(tempfile.mkdtemp(prefix="edgebench-example-"))
x_train, y_train, x_test, y_test = eb.digits()  # 1,797 real 8x8 handwritten digits, shipped with edgebench
print(x_train.shape, x_train.dtype, y_train.shape, "train /", len(y_test), "test")

# %% [markdown]
# A model in memory: any `torch.nn.Module`. Here a small greyscale CNN, trained for a few seconds.

# %%
torch.manual_seed(0)
net = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                    nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
                    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))
images = torch.from_numpy(x_train.astype(np.float32) / 255.0).reshape(len(x_train), 8, 8, -1).permute(0, 3, 1, 2)
mean, std = images.mean(), images.std()
labels = torch.from_numpy(y_train.astype(np.int64))
optimizer = torch.optim.Adam(net.parameters(), lr=0.02)
for step in range(60):
    optimizer.zero_grad()
    loss = nn.functional.cross_entropy(net((images - mean) / std), labels)
    loss.backward()
    optimizer.step()
net.eval()
print(f"train loss {loss.item():.3f}")

# %% [markdown]
# Export: every artifact is checked against the module on the held-out images before it is bundled. The
# arrays are the data; `input_size=8` because the module was trained on 8x8 images.

# %%
bundle = eb.export(net, data=(x_train, y_train, x_test, y_test), precisions=["fp32", "int8"], formats="onnx",
                   input_size=8, mean=[float(mean)], std=[float(std)], name="digits-cnn", out=work / "bundle")
bundle

# %% [markdown]
# Measure on this machine (`device="ssh://pi@raspberrypi.local"` or a devices-file name measures elsewhere).

# %%
result = eb.bench(bundle, device="local", results=work / "results", threads=1, rounds=3, min_seconds=0.2)
result

# %% [markdown]
# The answer within a 1-point accuracy budget: the fastest and the smallest artifact, as values.

# %%
rep = eb.report([result], max_drop=1.0)
answer = rep.answer
print(answer.text)
print("smallest:", answer.smallest, "| fastest:", answer.fastest or f"none named ({answer.withheld or 'a tie'})")
rep.to_html(work / "report.html")
print("report written to", work / "report.html")

# %% [markdown]
# Errors are exceptions carrying the command line's one-line message.

# %%
try:
    eb.report([result], max_drop=-1)
except eb.BadOptionError as error:
    print(f"refused (exit {error.exit_code} on the command line): {error}")
