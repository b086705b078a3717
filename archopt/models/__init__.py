"""archopt's model zoo: SqueezeNet, CIFAR ResNet and Pix2Pix with DSC/Shift/Shuffle."""

from archopt.models.pix2pix import PatchDiscriminator, UnetGenerator
from archopt.models.profile import count_macs, count_params, input_shape, state_dict_bytes
from archopt.models.registry import (
    ModelInfo,
    canonical_name,
    get_model,
    list_models,
    models_for_dataset,
    parse_name,
)

__all__ = [
    "ModelInfo",
    "PatchDiscriminator",
    "UnetGenerator",
    "canonical_name",
    "count_macs",
    "count_params",
    "get_model",
    "input_shape",
    "list_models",
    "models_for_dataset",
    "parse_name",
    "state_dict_bytes",
]
