"""Run one optimizer step and one benchmark inference of each network named on the
command line, through archopt's own training and benchmark code paths.

Used by tests/test_native_kernels.py in a subprocess: a kernel that corrupts the heap
kills this process with a signal, and the last ``BEGIN`` line without its ``END``
names the network that did it. Usage: ``kernel_worker.py DATASET:NAME [...]``.
"""

from __future__ import annotations

import logging
import sys

import numpy as np
import torch

from archopt.data.specs import cifar_spec
from archopt.gan.pix2pix import Pix2Pix
from archopt.models import parse_name
from archopt.models.layers import SHIFT_IMPLEMENTATIONS, set_shift_impl, uses_shift
from archopt.progress import LogStream
from archopt.runtimes.eager import eager_runner
from archopt.train.loop import RunSpec, TrainingRun

BATCH = 2  # the AVX2 oneDNN crash shows at batch 2 already; small keeps 100 networks fast
CLASSIFIER_SHAPE = (3, 32, 32)
GAN_SHAPE = (3, 256, 256)


def classifier_step(name: str, dataset: str) -> torch.nn.Module:
    spec = RunSpec(name, dataset, 0.05, BATCH, 0, 1, 0.9, 5e-4, BATCH, BATCH)
    run = TrainingRun(spec, torch.device("cpu"))
    classes = cifar_spec(dataset).num_classes
    batch = torch.randn(BATCH, *CLASSIFIER_SHAPE), torch.arange(BATCH) % classes
    run.train_epoch(lambda generator: iter([batch, batch]), 2, LogStream(logging.getLogger()))
    return run.model


def generator_step(name: str) -> torch.nn.Module:
    pix2pix = Pix2Pix(name, "cpu")
    pix2pix.train_step(torch.randn(1, *GAN_SHAPE), torch.randn(1, *GAN_SHAPE))
    return pix2pix.generator


def benchmark_inference(model: torch.nn.Module, shape: tuple[int, ...]) -> None:
    image = np.random.default_rng(0).standard_normal((1, *shape), dtype=np.float32)
    impls = SHIFT_IMPLEMENTATIONS if uses_shift(model) else (None,)
    for impl in impls:
        if impl is not None:
            set_shift_impl(model, impl)
        eager_runner(model, "cpu")(image)


def main(targets: list[str]) -> None:
    torch.set_num_threads(1)
    print(f"capability {torch.backends.cpu.get_cpu_capability()}", flush=True)
    for target in targets:
        dataset, name = target.split(":")
        print(f"BEGIN {target}", flush=True)
        if parse_name(name).is_gan:
            benchmark_inference(generator_step(name), GAN_SHAPE)
        else:
            benchmark_inference(classifier_step(name, dataset), CLASSIFIER_SHAPE)
        print(f"END {target}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
