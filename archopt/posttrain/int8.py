"""``int8``: static post-training quantization of the ONNX export, per runtime.

Every recipe of ``posttrain.int8_recipes`` (ONNX Runtime's QDQ S8S8, QDQ U8S8 with
``reduce_range``, QOperator U8S8) is calibrated on training images, timed and scored in
every runtime of ``posttrain.int8_runtimes`` next to the fp32 export; each runtime keeps
its fastest recipe whose top-1 stays within ``posttrain.int8_max_drop`` points of fp32.
The work is in :mod:`archopt.posttrain.quantize`; this file only registers the method.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from archopt.names import parse_name
from archopt.posttrain import PostTrainMethod, register_posttrain_method

if TYPE_CHECKING:
    from archopt.posttrain.jobs import PostTrainJob


@register_posttrain_method
class Int8(PostTrainMethod):
    name = "int8"
    label = "int8"

    def variants(self, model: str, dataset: str, config: Mapping[str, Any]) -> list[str]:
        # Every classifier of the study, so "Shift + int8" can be set against "int8 alone".
        return [] if parse_name(model).is_gan else [self.name]

    def describe(self, summary: Mapping[str, Any]) -> str:
        return f"int8 ({summary.get('recipe')} in {summary.get('deploy_runtime')})"

    def run(self, job: PostTrainJob) -> None:
        from archopt.posttrain.quantize import int8_job

        int8_job(job)
