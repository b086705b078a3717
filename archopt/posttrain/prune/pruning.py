"""Structured channel pruning with Torch-Pruning, fine-tuning, and the pruned checkpoint.

Pruning removes whole channels (Torch-Pruning's dependency graph keeps coupled layers,
e.g. every conv on one residual stream, consistent), so the result is a smaller *dense*
network. To reach a parameter budget: every prunable layer loses the same share of its
channels (a bisection over that share finds the largest network still above the
budget), then single channels are removed, the least important first over all layers,
until the budget is crossed; the closer of the last two networks is kept. A uniform share
alone moves in steps of several percent (one channel of a residual stream touches every
block of its stage); single channels land within about 1% of the budget.

Importance (``posttrain.importance``): ``magnitude``, the L2 norm of each channel's
weights over its whole coupled group, or ``bn_scale``, the |gamma| of its batch norms
(network slimming). The classifier's outputs (the classes) are never pruned.

A pruned network cannot be built by name, so its checkpoint (``artifacts/model.pt``)
is ``best.pt``'s format plus ``base_model``: the base network is built by name and every
layer is resized to the shapes in the state dict before loading it (:func:`load_pruned`).
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch_pruning as tp
from torch import nn

from archopt.bench.benchmark import bench_worker, benchmark, deployable_onnx
from archopt.bench.jobs import benchmark_images
from archopt.data import split_train_val
from archopt.datasets import get_dataset
from archopt.gpu import claim_device
from archopt.io import atomic_dir, atomic_path, write_json_atomic
from archopt.models import count_params, get_model, input_shape, parse_name
from archopt.posttrain import PostTrainName
from archopt.posttrain.jobs import PostTrainJob, accuracy_record, write_summary
from archopt.runtimes import deployed_runtime
from archopt.train.checkpoint import load_weights, read_torch_dict, save_torch_atomic
from archopt.train.jobs import data_root, evaluation_batches, training_batches
from archopt.train.loop import RunSpec, train_run
from archopt.train.metrics import evaluate
from archopt.workflow import carry_attempt_logs

PRUNED_KEYS = ("model", "base_model", "dataset", "state_dict", "epoch", "val_top1")
MAX_RATIO = 0.95  # leaves every layer at least one channel in twenty
BISECTION_STEPS = 12
IMPORTANCES = ("magnitude", "bn_scale")


def importance(kind: str) -> tp.importance.Importance:
    if kind == "magnitude":
        return tp.importance.GroupMagnitudeImportance(p=2)
    if kind == "bn_scale":
        return tp.importance.BNScaleImportance()
    raise ValueError(f"config key 'posttrain.importance': {kind!r} is not one of {IMPORTANCES}")


def classifier_layers(model: nn.Module) -> list[nn.Module]:
    """The layer producing the logits (ResNet: the linear layer; SqueezeNet: its last conv)."""
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    return layers[-1:]


def example_input(model: nn.Module) -> torch.Tensor:
    dataset = getattr(model, "archopt_dataset", "cifar10")
    return torch.zeros(1, *input_shape(dataset))


def prune_uniform(model: nn.Module, ratio: float, kind: str) -> nn.Module:
    """Remove ``ratio`` of the channels of every prunable layer group, in place."""
    if ratio > 0:
        pruner = tp.pruner.BasePruner(
            model, example_input(model), importance=importance(kind), pruning_ratio=ratio,
            ignored_layers=classifier_layers(model))
        pruner.step()
    return model


def prune_one_channel(model: nn.Module, kind: str) -> bool:
    """Remove the least important channel of the whole network (False: none is left)."""
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=example_input(model))
    score = importance(kind)
    weakest = None
    for group in graph.get_all_groups(ignored_layers=classifier_layers(model),
                                      root_module_types=[nn.Conv2d, nn.Linear]):
        if len(group[0].idxs) <= 1:
            continue  # a layer keeps at least one channel
        scores = score(group)
        if scores is None:
            continue
        index = int(torch.argmin(scores))
        if weakest is None or float(scores[index]) < weakest[0]:
            weakest = (float(scores[index]), group, index)
    if weakest is None:
        return False
    _, group, index = weakest
    dep = group[0].dep
    graph.get_pruning_group(dep.target.module, dep.handler, idxs=[index]).prune()
    return True


def prune_to_params(model: nn.Module, budget: int, kind: str) -> nn.Module:
    """A pruned copy of ``model`` whose parameter count is as close to ``budget`` as the
    procedure of the module docstring gets."""
    def uniform(ratio: float) -> nn.Module:
        return prune_uniform(copy.deepcopy(model), ratio, kind)

    if count_params(model) <= budget:
        return copy.deepcopy(model)
    above, below = 0.0, MAX_RATIO  # params(above) > budget >= params(below), or below is MAX
    for _ in range(BISECTION_STEPS):
        middle = (above + below) / 2
        if count_params(uniform(middle)) > budget:
            above = middle
        else:
            below = middle
    current = uniform(above)
    previous = current
    while count_params(current) > budget:
        previous = copy.deepcopy(current)
        if not prune_one_channel(current, kind):
            break
    return min((previous, current), key=lambda m: abs(count_params(m) - budget))


def resize_to(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> nn.Module:
    """Give every conv, batch norm and linear layer of ``model`` the shapes of
    ``state_dict`` (a pruned copy's), so that ``load_state_dict`` fits."""
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        if isinstance(module, nn.Conv2d):
            weight = state_dict[f"{prefix}weight"]
            module.out_channels, module.in_channels = weight.shape[0], weight.shape[1] * module.groups
        elif isinstance(module, nn.BatchNorm2d):
            module.num_features = state_dict[f"{prefix}weight"].shape[0]
        elif isinstance(module, nn.Linear):
            module.out_features, module.in_features = state_dict[f"{prefix}weight"].shape
        elif any(True for _ in module.parameters(recurse=False)):
            raise ValueError(f"cannot resize layer {name!r} ({type(module).__name__})")
        else:
            continue
        for key, tensor in [*module.named_parameters(recurse=False),
                            *module.named_buffers(recurse=False)]:
            shaped = torch.empty_like(state_dict[f"{prefix}{key}"])
            if isinstance(tensor, nn.Parameter):
                setattr(module, key, nn.Parameter(shaped, requires_grad=tensor.requires_grad))
            else:
                module.register_buffer(key, shaped)
    return model


def save_pruned(path: Path, name: PostTrainName, dataset: str, model: nn.Module,
                epoch: int = 0, val_top1: float = -1.0) -> None:
    weights = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    save_torch_atomic(path, {"model": str(name), "base_model": name.model, "dataset": dataset,
                             "state_dict": weights, "epoch": epoch, "val_top1": val_top1})


def load_pruned(path: str | Path) -> nn.Module:
    """Rebuild a pruned network from its checkpoint (eval mode, on the CPU)."""
    checkpoint = read_torch_dict(path, "pruned checkpoint", PRUNED_KEYS)
    model = get_model(checkpoint["base_model"], checkpoint["dataset"])
    resize_to(model, checkpoint["state_dict"]).load_state_dict(checkpoint["state_dict"])
    model.archopt_dataset = checkpoint["dataset"]
    return model.eval()


def budget_of(name: PostTrainName, dataset: str, ratio_default: float
              ) -> tuple[str | None, float | None]:
    """(network whose size is the budget, fixed ratio): one of the two is None."""
    arg = name.arg or f"{ratio_default:g}"
    if arg[0].isdigit():
        return None, float(arg)
    target = f"{name.model}-{arg}"
    parse_name(target)  # fails naming the network when the technique does not exist
    return target, None


def pruned_network(job: PostTrainJob) -> tuple[nn.Module, dict[str, Any]]:
    """The pruned (not yet fine-tuned) network and how it was sized."""
    base = get_model_weights(job)
    kind = job.settings.importance
    target, ratio = budget_of(job.name, job.dataset, job.settings.squeezenet_ratio)
    sizing: dict[str, Any] = {"importance": kind, "base_params": count_params(base)}
    if target is None:
        pruned = prune_uniform(copy.deepcopy(base), ratio, kind)
        sizing |= {"ratio": ratio}
    else:
        budget = count_params(get_model(target, job.dataset))
        pruned = prune_to_params(base, budget, kind)
        sizing |= {"budget_of": target, "target_params": budget,
                   "rel_gap": (count_params(pruned) - budget) / budget}
    return pruned, sizing


def get_model_weights(job: PostTrainJob) -> nn.Module:
    model = load_weights(job.checkpoint, job.name.model, job.dataset)
    model.archopt_dataset = job.dataset
    return model


def finetune(job: PostTrainJob, pruned_path: Path) -> tuple[Any, dict[str, Any]]:
    """Fine-tune the pruned network with the training protocol's SGD (resumable)."""
    settings = job.settings
    torch.set_num_threads(settings.train_threads)
    data = get_dataset(job.dataset).read(data_root(job.data_marker)).train
    train_set, val_set = split_train_val(data, settings.val_size, settings.train_subset)
    spec = RunSpec(model=str(job.name), dataset=job.dataset, lr=settings.finetune_lr,
                   batch_size=settings.finetune_batch_size, seed=settings.seed,
                   max_epochs=settings.finetune_epochs, momentum=settings.momentum,
                   weight_decay=settings.weight_decay, train_images=len(train_set),
                   val_images=len(val_set))
    with claim_device(*job.gpu, logger=job.logger) as placement:
        device = torch.device(placement.device)
        val_batches = evaluation_batches(val_set, job.dataset)
        before = evaluate(load_pruned(pruned_path).to(device), val_batches(None), device)
        run = train_run(spec, training_batches(train_set, spec.batch_size, job.dataset),
                        val_batches, job.resume_dir / "state.pt",
                        device, job.logger, restart=settings.restart,
                        build=lambda: load_pruned(pruned_path))
    record = {"epochs": run.epoch, "lr": spec.lr, "batch_size": spec.batch_size,
              "best_epoch": run.best.epoch, "val_top1": run.best.val_top1,
              "val_top1_before": before.top1, "stop_reason": run.stop_reason,
              "train_seconds": sum(h["seconds"] for h in run.history),
              "device": str(device)}
    return run, record


def deployed_logits(onnx_path: Path, model: nn.Module, images: np.ndarray, threads: int
                    ) -> np.ndarray:
    """The deployment runtime's outputs of ``onnx_path`` on every image, one at a time."""
    run = deployed_runtime().load(str(onnx_path), model, "cpu", threads)
    return np.stack([run(images[i : i + 1])[0] for i in range(len(images))])


def prune_job(job: PostTrainJob) -> None:
    """Prune, fine-tune, export, benchmark; write the job's outputs."""
    attempts = carry_attempt_logs(job.logger, job.resume_dir)
    pruned_path = job.resume_dir / "pruned.pt"
    sizing_path = job.resume_dir / "sizing.json"
    if not pruned_path.exists():  # pruning is deterministic but slow: done once per result
        pruned, sizing = pruned_network(job)
        write_json_atomic(sizing_path, sizing)
        save_pruned(pruned_path, job.name, job.dataset, pruned)
    sizing = json.loads(sizing_path.read_text())
    job.logger.info("pruned %s: %d -> %d parameters (%s)", job.name.model, sizing["base_params"],
                    count_params(load_pruned(pruned_path)), sizing)
    run, finetuned = finetune(job, pruned_path)
    bench = job.settings.bench
    torch.set_num_threads(bench.threads)
    # The worker's Python and torch start while this process exports the network.
    with bench_worker(bench, job.logger).start() as worker:
        with atomic_dir(job.artifacts) as folder:
            model = load_pruned(pruned_path)
            model.load_state_dict(run.best.state_dict)
            save_pruned(folder / "model.pt", job.name, job.dataset, model, run.best.epoch,
                        run.best.val_top1)
            model = load_pruned(folder / "model.pt")
            images, labels = benchmark_images(job.data_marker, job.dataset, bench.images)
            onnx = deployable_onnx(model, images[:5], bench.threads, bench.warmup)
            with atomic_path(job.deployable) as tmp:
                tmp.write_bytes(onnx)
            logits = deployed_logits(job.deployable, model, images, bench.threads)
            (folder / "logits").mkdir()
            np.save(folder / "logits" / f"{deployed_runtime().name}.npy", logits)
            np.save(folder / "labels.npy", labels)
            checkpoint_bytes = (folder / "model.pt").stat().st_size
        # The fp32 networks' protocol, exactly (min_queries, min_duration_s, repeats too).
        result = benchmark(model, onnx, images, labels, "cpu", bench, job.logger, worker)
    storage = {"checkpoint_bytes": checkpoint_bytes, "onnx_bytes": len(onnx)}
    write_json_atomic(job.bench, {"model": str(job.name), "dataset": job.dataset, "device": "cpu",
                                  "images": len(images)} | result | {"storage": storage})
    write_summary(job, accuracy_record(logits, labels) | {
        "params": count_params(model), "storage_bytes": len(onnx),
        "checkpoint_bytes": checkpoint_bytes, "deploy_runtime": deployed_runtime().name,
        "accuracy_from": f"{deployed_runtime().name} outputs of model.onnx on {len(images)} "
                         "test images",
        "pruning": sizing, "finetune": finetuned, "checkpoint": "artifacts/model.pt",
    })
    # Complete: a forced rerun prunes and fine-tunes afresh.
    job.logger.removeHandler(attempts)
    attempts.close()
    shutil.rmtree(job.resume_dir)


