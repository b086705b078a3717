"""archopt's model zoo: SqueezeNet, CIFAR ResNet and Pix2Pix with DSC/Shift/Shuffle.

Names resolve on first use (``archopt.lazy``), so ``archopt.models.costs`` and the name
grammar (``archopt.names``) stay torch-free for the workflow's parse.
"""

from archopt.lazy import lazy_exports

_EXPORTS = {
    "PatchDiscriminator": "archopt.models.pix2pix",
    "UnetGenerator": "archopt.models.pix2pix",
    "count_macs": "archopt.models.profile",
    "count_params": "archopt.models.profile",
    "input_shape": "archopt.models.profile",
    "state_dict_bytes": "archopt.models.profile",
    "ModelInfo": "archopt.names",
    "canonical_name": "archopt.names",
    "list_models": "archopt.names",
    "models_for_dataset": "archopt.names",
    "parse_name": "archopt.names",
    "get_model": "archopt.models.registry",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
