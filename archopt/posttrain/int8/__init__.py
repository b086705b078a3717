"""``int8``: static post-training quantization of the ONNX export, per runtime.

Every recipe of ``posttrain.int8_recipes`` (ONNX Runtime's QDQ S8S8, QDQ U8S8 with
``reduce_range``, QOperator U8S8) is calibrated on training images, timed and scored in
every runtime of ``posttrain.int8_runtimes`` next to the fp32 export; each runtime keeps
its fastest recipe whose top-1 stays within ``posttrain.int8_max_drop`` points of fp32.

The method is this package: the registration here (torch-free: the workflow reads it
while Snakemake parses the DAG), the work in :mod:`archopt.posttrain.int8.quantize`, and
its part of the report (finding 6, the "quantize" flowchart leaf, the recipes tried) in
:mod:`archopt.posttrain.int8.report`; each is imported when its hook runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from archopt.names import parse_name
from archopt.posttrain import PostTrainMethod, register_posttrain_method

if TYPE_CHECKING:
    import pandas as pd

    from archopt.posttrain.jobs import PostTrainJob
    from archopt.report.flowchart import Leaf
    from archopt.report.posttrain import MethodFinding, PostTrainData


@register_posttrain_method
class Int8(PostTrainMethod):
    name = "int8"
    label = "int8"

    def variants(self, model: str, dataset: str, config: Mapping[str, Any]) -> list[str]:
        # Every classifier of the study, so "Shift + int8" can be set against "int8 alone".
        return [] if parse_name(model).is_gan else [self.name]

    def run(self, job: PostTrainJob) -> None:
        from archopt.posttrain.int8.quantize import int8_job

        int8_job(job)

    def describe(self, summary: Mapping[str, Any]) -> str:
        return f"int8 ({summary.get('recipe')} in {summary.get('deploy_runtime')})"

    def latency_note(self, summary: Mapping[str, Any], entry: Mapping[str, Any]) -> str:
        # The recipe timed: this machine's entries name theirs; an imported device timed
        # model.onnx, the recipe the summary names.
        recipe = entry.get("recipe", summary.get("recipe"))
        return f"recipe={recipe}" if recipe else ""

    def report_tables(self, table: pd.DataFrame, data: PostTrainData, dataset: str
                      ) -> list[tuple[str, pd.DataFrame]]:
        from archopt.posttrain.int8.report import recipe_tables

        return recipe_tables(data, dataset)

    def findings(self, data: PostTrainData, table: pd.DataFrame) -> list[MethodFinding]:
        from archopt.posttrain.int8.report import int8_finding

        return int8_finding(data, table)

    def flowchart_leaves(self, data: PostTrainData, table: pd.DataFrame,
                         low_compute: tuple[str, ...]) -> list[Leaf]:
        from archopt.posttrain.int8.report import quantize_leaves

        return quantize_leaves(data, table, low_compute)
