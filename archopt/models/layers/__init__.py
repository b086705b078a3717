"""Building blocks shared by every network family and technique.

Families and techniques both build from these; neither imports the other's modules.
Names resolve on first use (``archopt.lazy``): a technique module can hold
``archopt.models.layers`` at module level and stay torch-free until a hook builds layers.
"""

from archopt.lazy import lazy_exports

_EXPORTS = {
    "conv_bn": "archopt.models.layers.conv",
    "conv_bn_relu": "archopt.models.layers.conv",
    "plain_encoder_conv": "archopt.models.layers.conv",
    "DepthwiseSeparableConv": "archopt.models.layers.dsc",
    "Fire": "archopt.models.layers.fire",
    "fire_module": "archopt.models.layers.fire",
    "GroupedPointwiseConv": "archopt.models.layers.grouped",
    "PatchSafeBatchNorm2d": "archopt.models.layers.norm",
    "DEFAULT_SHIFT_IMPL": "archopt.models.layers.shift",
    "SHIFT_IMPLEMENTATIONS": "archopt.models.layers.shift",
    "ChannelShift": "archopt.models.layers.shift",
    "set_shift_impl": "archopt.models.layers.shift",
    "shift_impl_of": "archopt.models.layers.shift",
    "shift_directions": "archopt.models.layers.shift",
    "uses_shift": "archopt.models.layers.shift",
    "ChannelShuffle": "archopt.models.layers.shuffle",
    "channel_shuffle": "archopt.models.layers.shuffle",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
