import pytest
import torch

from edgebench.errors import UnknownNameError
from edgebench.models import create_model, model_names
from edgebench.models.stats import count_params, model_stats


@pytest.mark.parametrize("name, classes, params", [
    ("resnet101", 10, 42_512_970),   # the study's baseline, exactly
    ("vgg19", 100, 39_327_652),      # the study's VGG-19-BN for CIFAR-100 (39.328 M)
    ("resnet20", 10, 272_474),
])
def test_exact_parameter_counts(name, classes, params):
    assert count_params(create_model(name, num_classes=classes)) == params


def test_study_flops_convention():
    stats = model_stats(create_model("resnet101"), (1, 3, 32, 32))
    assert stats.flops == pytest.approx(2520.22e6, rel=1e-4)  # the study's fvcore figure
    assert stats.macs < stats.flops                            # BatchNorm is not a MAC
    vgg = model_stats(create_model("vgg19", num_classes=100), (1, 3, 32, 32))
    assert vgg.flops == pytest.approx(418.02e6, rel=1e-4)


@pytest.mark.parametrize("name", ["test_resnet", "test_vgg", "resnet8"])
def test_forward_shapes_and_channels(name):
    model = create_model(name, num_classes=7, in_channels=1).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 7)


def test_registry_lists_required_models():
    names = set(model_names())
    assert {"resnet101", "vgg19", "test_resnet", "test_vgg"} <= names


def test_unknown_model_lists_close_matches():
    with pytest.raises(UnknownNameError, match="did you mean resnet101"):
        create_model("resnet10l")


@pytest.mark.parametrize("zoo, variant, classes, params", [
    ("resnet101", "resnet101-v1", 10, 42_512_970),
    ("vgg19", "vgg19-v1", 100, 39_327_652),
])
def test_study_baseline_is_one_network(zoo, variant, classes, params):
    """The zoo name and the study's variant file build the same modules through the same classes."""
    first, second = create_model(zoo, num_classes=classes), create_model(variant, num_classes=classes)
    assert type(first) is type(second)
    assert {k: tuple(v.shape) for k, v in first.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in second.state_dict().items()}
    assert sum(p.numel() for p in first.parameters()) == params
