"""Building the network a model name stands for (the names themselves: ``archopt.names``)."""

from __future__ import annotations

from torch import nn

from archopt.datasets import CLASSIFICATION, PAIRED, dataset_names, get_dataset
from archopt.models.pix2pix import UnetGenerator
from archopt.models.resnet import CifarResNet, ResNetSpec, scaled_widths
from archopt.models.shapes import check_input_shape
from archopt.models.squeezenet import CifarSqueezeNet
from archopt.names import (  # noqa: F401 - the names API, re-exported where it always was
    FAMILIES,
    PAPER_SCALED_MODELS,
    RESNET_DEPTHS,
    ModelInfo,
    base_models,
    canonical_name,
    check_dataset,
    family_models,
    format_rate,
    list_models,
    models_for_dataset,
    parse_name,
)
from archopt.techniques import BASE


def resnet_spec(info: ModelInfo) -> ResNetSpec:
    """The ResNet structure a parsed name stands for."""
    body = "basic" if info.technique == BASE else info.technique
    if info.scaling == "reduce_block":
        return ResNetSpec(info.depth, "bottleneck", mid_rate=info.factor)
    if info.scaling in ("expand", "reduce_channels"):
        return ResNetSpec(info.depth, body, scaled_widths(info.factor, info.technique))
    return ResNetSpec(info.depth, body)


def get_model(name: str, dataset: str | None = None) -> nn.Module:
    """Build a freshly initialized network for ``dataset`` (default: the first registered
    dataset of the network's kind, i.e. cifar10 for classifiers, maps for generators)."""
    info = parse_name(name)
    if dataset is None:
        dataset = dataset_names(PAIRED if info.is_gan else CLASSIFICATION)[0]
    check_dataset(info, dataset)
    check_input_shape(info.family, dataset)
    registered = get_dataset(dataset)
    channels = registered.image_shape[0]  # every family's stem takes the dataset's channels
    if info.family == "squeezenet":
        model = CifarSqueezeNet(info.technique, registered.num_classes, channels)
    elif info.family == "pix2pix":
        model = UnetGenerator(channels, channels, variant=info.technique)
    else:
        model = CifarResNet(resnet_spec(info), registered.num_classes, channels)
    model.archopt_info = info
    return model
