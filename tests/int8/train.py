"""Train the int8 test model's weights on Fashion-MNIST and write tests/int8/outlier_cnn.pt.

Run from the repository root: `python -m tests.int8.train` (about 3 minutes on one core). Batch norm helps
the 20-layer plain network train; it is folded into the convolutions before saving, so the stored network
has no normalisation layers, like the networks whose outlier channels it reproduces.
"""

from __future__ import annotations

import time

import numpy as np


def main(train_images: int = 30000, epochs: int = 2, seed: int = 0) -> None:
    import torch
    import torch.nn as nn

    from edgebench.data import fit_normalisation, load_split, normalise, resize_images
    from edgebench.data.preprocess import Preprocess
    from tests.int8.model import DATASET, INPUT_SHAPE, WEIGHTS, build_chain

    torch.manual_seed(seed)
    size, channels = INPUT_SHAPE[2:], INPUT_SHAPE[1]
    train_raw = load_split(str(DATASET), "train")
    # the same fit `edgebench export` makes for a model without its own normalisation
    mean, std = fit_normalisation(resize_images(train_raw.sample(2000), size, channels))
    preprocess = Preprocess(input_size=size, channels=channels, mean=mean, std=std)
    train = train_raw.sample(train_images, seed)
    inputs = torch.from_numpy(normalise(train.images, preprocess))
    labels = torch.from_numpy(train.labels.astype(np.int64))
    test = load_split(str(DATASET), "test").sample(2000, seed)
    test_inputs = torch.from_numpy(normalise(test.images, preprocess))

    network = build_chain(batch_norm=True)
    steps = epochs * (len(inputs) // 64)
    optimizer = torch.optim.AdamW(network.parameters(), lr=3e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps)
    started = time.perf_counter()
    for epoch in range(epochs):
        network.train()
        order = torch.randperm(len(inputs))
        for start in range(0, len(order) - 63, 64):
            batch = order[start:start + 64]
            loss = nn.functional.cross_entropy(network(inputs[batch]), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        print(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.3f} ({time.perf_counter() - started:.0f} s)")
    deployed = fold(network.eval(), build_chain())
    with torch.no_grad():
        accuracy = (deployed(test_inputs).argmax(1).numpy() == test.labels).mean()
    print(f"test accuracy {100 * accuracy:.2f} % on {len(test)} images")
    torch.save({"state_dict": deployed.state_dict(), "mean": list(mean), "std": list(std),
                "test_accuracy": float(accuracy)}, WEIGHTS)
    print(f"wrote {WEIGHTS}")


def fold(trained, deployed):
    """Copy `trained` (conv, bn, relu ...) into `deployed` (conv with bias, relu ...), batch norm folded."""
    import torch
    import torch.nn as nn

    source = list(trained)
    target = [layer for layer in deployed]
    convs = [(layer, source[i + 1]) for i, layer in enumerate(source) if isinstance(layer, nn.Conv2d)]
    target_convs = [layer for layer in target if isinstance(layer, nn.Conv2d)]
    with torch.no_grad():
        for (conv, norm), out in zip(convs, target_convs):
            scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
            out.weight.copy_(conv.weight * scale[:, None, None, None])
            out.bias.copy_(norm.bias - norm.running_mean * scale)
        target[-1].load_state_dict(source[-1].state_dict())
    return deployed.eval()


if __name__ == "__main__":
    main()
