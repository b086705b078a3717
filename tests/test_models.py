"""The model zoo: registry, forward/backward of every family x technique, MACs."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from archopt.models import (
    PatchDiscriminator,
    count_macs,
    count_params,
    get_model,
    input_shape,
    list_models,
    parse_name,
    state_dict_bytes,
)
from archopt.models.layers import ChannelShift, GroupedPointwiseConv

TECHS = ("", "-dsc", "-shift", "-shuffle")
CLASSIFIERS = [f"squeezenet{t}" for t in TECHS] + [f"resnet20{t}" for t in TECHS] + [
    "resnet20-dsc-0.36", "resnet20-2.5", "resnet20-2.4_block", "resnet20-shuffle-0.27",
]


@pytest.mark.parametrize("name", CLASSIFIERS)
@pytest.mark.parametrize("dataset,classes", [("cifar10", 10), ("cifar100", 100)])
def test_classifier_forward_backward(name, dataset, classes):
    torch.manual_seed(0)
    model = get_model(name, dataset)
    x = torch.randn(4, 3, 32, 32)
    out = model(x)
    assert out.shape == (4, classes)
    out.logsumexp(1).mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("name", [f"pix2pix{t}" for t in TECHS])
def test_generator_forward_backward(name):
    torch.manual_seed(0)
    model = get_model(name, "maps")
    x = torch.randn(1, 3, 256, 256)
    y = model(x)
    assert y.shape == (1, 3, 256, 256) and y.abs().max() <= 1  # tanh output
    y.mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_patchgan_is_conditional_and_gives_a_30x30_patch_map():
    disc = PatchDiscriminator()
    assert count_params(disc) == 2_768_705
    assert disc(torch.randn(1, 6, 256, 256)).shape == (1, 1, 30, 30)


@pytest.mark.parametrize(
    "alias,canonical",
    [
        ("ResNet20-DSC-0.36", "resnet20-dsc-0.36"),
        ("SqueezeNet-Shuffle (g = 2)", "squeezenet-shuffle"),
        ("ResNet110-Shuffle (g = 2)", "resnet110-shuffle"),
        ("Pix-2-Pix-Shift", "pix2pix-shift"),
        ("Pix-2-Pix-Shuffle (g = 8)", "pix2pix-shuffle"),
        ("ResNet20-2.4_block", "resnet20-2.4_block"),
        ("ResNet20-3", "resnet20-3"),
        ("resnet56-shift-0.340", "resnet56-shift-0.34"),
    ],
)
def test_paper_names_are_aliases(alias, canonical):
    assert parse_name(alias).name == canonical


def test_parsed_metadata():
    info = parse_name("resnet56-shift-0.34")
    assert (info.family, info.technique, info.scaling, info.factor, info.depth) == (
        "resnet", "shift", "expand", 0.34, 56,
    )
    assert parse_name("resnet20-2.4_block").scaling == "reduce_block"
    assert parse_name("resnet20-2.5").scaling == "reduce_channels"


@pytest.mark.parametrize(
    "bad,message",
    [
        ("resnet32", "depth must be one of"),
        ("vgg16", "unknown model name 'vgg16'"),
        ("resnet20-0", "rate must be positive"),
        ("resnet20-dsc-abc", "unknown model name"),
    ],
)
def test_bad_names_are_explained(bad, message):
    with pytest.raises(ValueError, match=message):
        get_model(bad)


def test_dataset_mismatch_is_explained():
    with pytest.raises(ValueError, match="trained on cifar10 or cifar100, not 'maps'"):
        get_model("resnet20", "maps")
    with pytest.raises(ValueError, match="unknown dataset 'svhn'"):
        get_model("resnet20", "svhn")


def test_list_models_is_canonical_and_buildable():
    names = list_models()
    assert len(names) == len(set(names))
    assert {"squeezenet", "resnet110-shift", "pix2pix-shuffle", "resnet20-2.4_block"} <= set(names)
    assert all(parse_name(n).name == n for n in names)


def test_macs_known_values_and_shift_counts_zero():
    # ResNet20: the widely quoted ~41 M MACs (convs + classifier).
    macs = count_macs(partial(get_model, "resnet20"), input_shape("cifar10"))
    assert 40_000_000 < macs < 42_000_000
    # A single shift + 1x1 fire branch: only the 1x1 costs MACs.
    shift_net = torch.nn.Sequential(ChannelShift(16), torch.nn.Conv2d(16, 8, 1, bias=False))
    assert count_macs(lambda: shift_net, (16, 4, 4)) == 16 * 8 * 16
    base = count_macs(partial(get_model, "resnet20"), (3, 32, 32))
    shift = count_macs(partial(get_model, "resnet20-shift"), (3, 32, 32))
    assert shift < base / 5


def test_grouped_pointwise_convs_count_their_macs():
    # GroupedPointwiseConv subclasses nn.Conv2d; MAC rules must reach subclasses.
    assert count_macs(lambda: GroupedPointwiseConv(16, 8, 2), (16, 4, 4)) == 16 * 8 // 2 * 16


def test_state_dict_bytes_tracks_float32_size():
    model = get_model("resnet20")
    size = state_dict_bytes(model)
    assert count_params(model) * 4 < size < count_params(model) * 4 * 1.2


@pytest.fixture
def greyscale_dataset():
    """A registered classification dataset of 1x28x28 images (as a plugin would add)."""
    from archopt.datasets import CLASSIFICATION, DATASETS, Dataset, register_dataset

    register_dataset(Dataset(
        name="grey28", title="Grey 28", kind=CLASSIFICATION, image_shape=(1, 28, 28),
        primary_metric="top1", train_images=100, test_images=20, url="http://127.0.0.1/x",
        md5=None, folder="grey28", reader="x:y", structure="x:y", num_classes=4,
        mean=(0.5,), std=(0.25,)))
    yield "grey28"
    DATASETS.remove("grey28")


@pytest.mark.parametrize("name", [*CLASSIFIERS, "resnet56-shift"])
def test_every_classifier_takes_the_channels_and_size_of_its_dataset(name, greyscale_dataset):
    """The stem follows the dataset's image_shape (was: 3 channels whatever it said, and
    a 1-channel dataset crashed the plan's cost estimate with a raw RuntimeError)."""
    model = get_model(name, greyscale_dataset)
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 4)
    profile = count_macs(partial(get_model, name, greyscale_dataset), input_shape(greyscale_dataset))
    assert profile > 0


def test_generators_take_the_channels_of_their_dataset():
    from archopt.models.pix2pix import UnetGenerator

    generator = UnetGenerator(1, 1, variant="shuffle").eval()
    with torch.no_grad():
        assert generator(torch.randn(1, 1, 256, 256)).shape == (1, 1, 256, 256)


def test_a_size_a_family_cannot_take_is_refused_naming_dataset_shape_and_family(
        greyscale_dataset):
    from archopt.models.shapes import check_input_shape

    check_input_shape("squeezenet", greyscale_dataset)  # 28x28: three 2x2 pools are fine
    with pytest.raises(ValueError, match=r"dataset 'grey28' has images of shape \(1, 28, 28\) "
                                         r"\(C, H, W\), which network family 'pix2pix' cannot "
                                         r"take: its image sides must be a multiple of 256"):
        check_input_shape("pix2pix", greyscale_dataset)


def test_the_search_counts_a_greyscale_network_as_built(greyscale_dataset):
    """The equal-budget search's block-wise counts use the dataset's channels too."""
    from archopt.search import resnet_params

    for name in ("resnet20", "resnet20-shift-0.5"):
        assert resnet_params(name, greyscale_dataset) == count_params(get_model(name, greyscale_dataset))
