"""A technique plugin as a researcher would write it (not shipped with archopt):
MobileNetV2's inverted residual body, expand 1x1 -> depthwise 3x3 -> project 1x1."""

from torch import nn

from archopt.techniques import Technique, register_technique


@register_technique
class InvertedResidual(Technique):
    name = "invres"
    label = "InvRes"
    color = "#8c564b"

    def resnet_body(self, in_planes: int, out_planes: int, stride: int) -> nn.Module:
        hidden = 2 * in_planes
        return nn.Sequential(
            nn.Conv2d(in_planes, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU(),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden), nn.ReLU(),
            nn.Conv2d(hidden, out_planes, 1, bias=False), nn.BatchNorm2d(out_planes),
        )
