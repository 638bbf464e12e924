import pytest

from edgebench.errors import EdgebenchError
from edgebench.train import TrainSpec, load_checkpoint


def test_short_training_learns_and_records_provenance(trained_checkpoint):
    checkpoint = load_checkpoint(trained_checkpoint)
    assert checkpoint.model_name == "test_resnet"
    assert checkpoint.model_config == {"num_classes": 10, "in_channels": 3}
    assert checkpoint.class_names == tuple(str(i) for i in range(10))
    assert checkpoint.preprocess.input_size == (32, 32) and len(checkpoint.preprocess.mean) == 3
    assert checkpoint.dataset["source"] == "digits" and checkpoint.dataset["train_images"] == 1437
    assert len(checkpoint.history) == 8
    assert checkpoint.history[-1]["train_loss"] < checkpoint.history[0]["train_loss"]
    assert checkpoint.accuracy > 0.75  # 8.4 k parameters, 8 short epochs: far above chance (0.1)
    assert checkpoint.train["weight_decay"] == 2e-5 and checkpoint.train["schedule"] == "onecycle"


def test_recipe_defaults_follow_the_study():
    spec = TrainSpec()
    assert (spec.epochs, spec.batch_size, spec.lr, spec.momentum, spec.weight_decay, spec.pct_start) == \
        (150, 128, 0.0125, 0.9, 2e-5, 0.1)
    plateau = TrainSpec.for_schedule("plateau")
    assert (plateau.lr, plateau.weight_decay) == (0.01, 5e-4)


@pytest.mark.parametrize("kwargs, message", [
    ({"schedule": "cosine"}, "unknown schedule 'cosine'"),
    ({"augment": ("rotate",)}, "unknown augmentation 'rotate'"),
    ({"epochs": 0}, "epochs 0 is out of range"),
    ({"lr": float("nan")}, "learning rate nan is not a finite number"),
    ({"weight_decay": float("inf")}, "weight decay inf is not a finite number"),
    ({"weight_decay": -1e-4}, "weight decay -0.0001 is out of range: give 0 or more"),
    ({"momentum": 1.0}, "momentum 1.0 is out of range: give a value in \\[0, 1\\)"),
    ({"train_limit": 0}, "train limit 0 is out of range: give a positive count"),
])
def test_bad_recipe_values(kwargs, message):
    with pytest.raises(EdgebenchError, match=message):
        TrainSpec(**kwargs)


def test_corrupt_and_foreign_checkpoints(tmp_path):
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(EdgebenchError, match="corrupt or not a torch file"):
        load_checkpoint(tmp_path / "bad.pt")
    import torch

    torch.save({"weights": torch.zeros(2)}, tmp_path / "foreign.pt")
    with pytest.raises(EdgebenchError, match="not an edgebench checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    with pytest.raises(EdgebenchError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
