"""``prune``: structured channel pruning (Torch-Pruning) plus fine-tuning.

Specs: ``prune-<technique>`` prunes a base ResNet to the parameter count of its
``-<technique>`` version (one per registered technique with a ResNet hook), beside the
dissertation's channel- and bottleneck-reduced networks; ``prune-<ratio>`` prunes
SqueezeNet by a fixed channel ratio (``posttrain.squeezenet_ratio``). The result is a
smaller dense network, fine-tuned with the training protocol's SGD, exported to ONNX
and benchmarked like any other.

The method is this package: the registration here (torch-free: the workflow reads it
while Snakemake parses the DAG), the work in :mod:`archopt.posttrain.prune.pruning`, and
its part of the report (the equal-budget tables) in :mod:`archopt.posttrain.prune.report`;
each is imported when its hook runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from archopt.names import parse_name
from archopt.posttrain import PostTrainMethod, register_posttrain_method
from archopt.techniques import BASE, technique_names
from archopt.train.resources import job_runtime_minutes

if TYPE_CHECKING:
    import pandas as pd

    from archopt.posttrain.jobs import PostTrainJob
    from archopt.report.posttrain import PostTrainData


@register_posttrain_method
class Prune(PostTrainMethod):
    name = "prune"
    label = "pruned"
    uses_gpu = True  # the fine-tuning

    def variants(self, model: str, dataset: str, config: Mapping[str, Any]) -> list[str]:
        info = parse_name(model)
        if info.technique != BASE or info.scaling != "none":
            return []  # only the base networks have optimized versions to match
        if info.family == "resnet":
            return [f"{self.name}-{technique}" for technique in technique_names("resnet")]
        if info.family == "squeezenet":
            return [f"{self.name}-{config['posttrain']['squeezenet_ratio']:g}"]
        return []

    def run(self, job: PostTrainJob) -> None:
        from archopt.posttrain.prune.pruning import prune_job

        prune_job(job)

    def runtime_minutes(self, model: str, dataset: str, arg: str | None,
                        config: Mapping[str, Any], threads: int) -> int:
        # Evaluated while Snakemake plans the DAG: the torch-free training estimate.
        epochs = config["posttrain"]["finetune_epochs"]
        train = {**config["train"], "max_epochs": epochs}
        return job_runtime_minutes(train, model, dataset, threads, cuda=False) + 15

    def describe(self, summary: Mapping[str, Any]) -> str:
        pruning = summary.get("pruning", {})
        if pruning.get("budget_of"):
            return f"pruned to {pruning['budget_of']}'s size"
        if pruning.get("ratio") is not None:
            return f"pruned, {pruning['ratio']:g} of channels removed"
        return self.label

    def report_columns(self, summary: Mapping[str, Any]) -> dict[str, Any]:
        # The network whose parameter count was the budget (results.csv's budget_of).
        return {"budget_of": summary.get("pruning", {}).get("budget_of", "")}

    def report_tables(self, table: pd.DataFrame, data: PostTrainData, dataset: str
                      ) -> list[tuple[str, pd.DataFrame]]:
        from archopt.posttrain.prune.report import pruned_budget_tables

        return pruned_budget_tables(table, data, dataset)
