"""BatchNorm that survives a single value per channel (batch 1 at a 1x1 map)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class PatchSafeBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm that falls back to its running statistics when a training batch holds a
    single value per channel (batch 1 at the UNet's 1x1 bottleneck), where batch
    statistics are undefined and ``nn.BatchNorm2d`` raises."""

    def forward(self, x: Tensor) -> Tensor:
        if self.training and x.shape[0] * x.shape[2] * x.shape[3] == 1:
            return F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
            )
        return super().forward(x)
