"""Static costs of a named network (params, MACs, activation floats), cached; and the
training step times measured on GPUs.

Snakemake evaluates every job's ``resources`` while it builds the DAG: ~900 jobs in the
paper preset, whose memory and runtime estimates need these costs. Profiling a network
on the meta device takes up to a second, so the costs of every network the study
trains by default are shipped precomputed in ``costs.csv`` (regenerate with
``python -m archopt.models.costs``; a test checks the table against fresh
measurements). Networks outside the table are profiled once per process.

GPU step times come from ``benchmarks/gpu_acceptance.sh`` runs, shipped in
``gpu_steps.csv`` (add a run's with ``python -m archopt.models.costs --gpu-steps
OUTDIR/gpu_acceptance.json``). That run times four networks; :class:`GpuStepModel`
extends them to every network by its activation size, the quantity that the time of these
small, memory-bound networks follows on a GPU.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from functools import lru_cache, partial
from importlib import resources
from pathlib import Path

from archopt.datasets import CLASSIFICATION, PAIRED, dataset_names
from archopt.io import atomic_path
from archopt.names import PAPER_SCALED_MODELS, base_models, parse_name

TABLE = "costs.csv"
COLUMNS = ("name", "dataset", "params", "macs", "activation_floats")
GPU_STEPS_TABLE = "gpu_steps.csv"
DEFAULT_SETTINGS = ("fp32", False)  # (train.precision, train.compile): the paper's


@dataclass(frozen=True)
class NetworkCosts:
    params: int
    macs: int  # per image
    activation_floats: int  # per image, all leaf-module outputs of one forward pass


def measure_costs(name: str, dataset: str) -> NetworkCosts:
    """Profile ``name`` on the meta device (no weights allocated)."""
    import torch  # the shipped table answers the workflow's parse without it

    from archopt.models.profile import count_params, input_shape, profile_forward
    from archopt.models.registry import get_model

    build = partial(get_model, name, dataset)
    with torch.device("meta"):
        params = count_params(build())
    forward = profile_forward(build, input_shape(dataset))
    return NetworkCosts(params, forward.macs, forward.activation_floats)


@lru_cache(maxsize=1)
def shipped_costs() -> dict[tuple[str, str], NetworkCosts]:
    text = resources.files("archopt.models").joinpath(TABLE).read_text()
    return {
        (row["name"], row["dataset"]): NetworkCosts(
            int(row["params"]), int(row["macs"]), int(row["activation_floats"])
        )
        for row in csv.DictReader(text.splitlines())
    }


@lru_cache(maxsize=None)
def network_costs(name: str, dataset: str) -> NetworkCosts:
    """Costs of a network by name (any alias): shipped table first, else measured."""
    canonical = parse_name(name).name
    return shipped_costs().get((canonical, dataset)) or measure_costs(canonical, dataset)


def default_study_networks() -> list[tuple[str, str]]:
    """Every (network, dataset) the paper preset trains, plus the dissertation's own nets."""
    from archopt.search import DEFAULT_STEP, searched_models  # torch: regenerating only

    pairs = []
    for dataset in dataset_names(CLASSIFICATION):
        classifiers = [n for n in base_models() if not parse_name(n).is_gan]
        names = classifiers + searched_models(dataset, DEFAULT_STEP) + list(PAPER_SCALED_MODELS[dataset])
        pairs += [(name, dataset) for name in dict.fromkeys(names)]
    generators = [n for n in base_models() if parse_name(n).is_gan]
    pairs += [(name, dataset) for dataset in dataset_names(PAIRED) for name in generators]
    return pairs


def write_table(path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for name, dataset in default_study_networks():
            writer.writerow({"name": name, "dataset": dataset, **asdict(measure_costs(name, dataset))})


@dataclass(frozen=True)
class GpuStep:
    """One measured training step time: a network at a batch size on a GPU, in settings."""

    gpu: str  # torch.cuda.get_device_name()
    model: str
    dataset: str
    batch_size: int
    precision: str  # train.precision
    compile: bool  # train.compile
    ms_per_step: float
    torch: str  # the torch version that ran it
    measured: str  # the date of the run (YYYY-MM-DD)

    @property
    def settings(self) -> tuple[str, bool]:
        return self.precision, self.compile

    @property
    def ms_per_image(self) -> float:
        return self.ms_per_step / self.batch_size


GPU_STEP_COLUMNS = tuple(f.name for f in fields(GpuStep))


def gpu_step_from_row(row: dict[str, str]) -> GpuStep:
    return GpuStep(
        gpu=row["gpu"], model=row["model"], dataset=row["dataset"],
        batch_size=int(row["batch_size"]), precision=row["precision"],
        compile=row["compile"] == "true", ms_per_step=float(row["ms_per_step"]),
        torch=row["torch"], measured=row["measured"],
    )


def read_gpu_steps(text: str) -> list[GpuStep]:
    return [gpu_step_from_row(row) for row in csv.DictReader(text.splitlines())]


@lru_cache(maxsize=1)
def shipped_gpu_steps() -> tuple[GpuStep, ...]:
    """The step times shipped with archopt (none until a GPU acceptance run adds some)."""
    return tuple(read_gpu_steps(resources.files("archopt.models").joinpath(GPU_STEPS_TABLE)
                                .read_text()))


def write_gpu_steps(path: Path, steps: Iterable[GpuStep]) -> None:
    with atomic_path(path) as tmp, tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=GPU_STEP_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for step in steps:
            writer.writerow(asdict(step) | {"compile": str(step.compile).lower()})


def merge_gpu_steps(table: Sequence[GpuStep], new: Sequence[GpuStep]) -> list[GpuStep]:
    """``table`` with ``new`` added; a new step replaces the table's for the same GPU,
    network, batch size and settings (a newer run of the same measurement)."""

    def key(step: GpuStep) -> tuple:
        return step.gpu, step.model, step.dataset, step.batch_size, step.settings

    replaced = {key(step) for step in new}
    kept = [step for step in table if key(step) not in replaced]
    return sorted([*kept, *new], key=lambda s: (s.gpu, s.settings, s.model, s.batch_size))


def measured_gpus(steps: Sequence[GpuStep], settings: tuple[str, bool] = DEFAULT_SETTINGS
                  ) -> list[str]:
    """The GPUs ``steps`` has times for in ``settings``, in the table's order."""
    return list(dict.fromkeys(s.gpu for s in steps if s.settings == settings))


@dataclass(frozen=True)
class GpuStepModel:
    """Milliseconds per training image on one GPU in one setting, for any network.

    A measured (network, dataset, batch size) is its own time. Any other network gets
    ``a + b * activation floats`` per image, fitted on the networks measured at the
    nearest measured batch size (through the origin where a line would give a negative
    cost: the time then scales with the activations alone).
    """

    gpu: str
    steps: tuple[GpuStep, ...]

    @classmethod
    def of(cls, steps: Sequence[GpuStep], gpu: str,
           settings: tuple[str, bool] = DEFAULT_SETTINGS) -> GpuStepModel:
        chosen = tuple(s for s in steps if s.gpu == gpu and s.settings == settings)
        if not chosen:
            raise LookupError(f"no GPU step times for {gpu!r} with (precision, compile) = "
                              f"{settings} in the table")
        return cls(gpu, chosen)

    def nearest_batch_size(self, batch_size: int) -> int:
        measured = {s.batch_size for s in self.steps}
        return min(measured, key=lambda b: (abs(math.log(b / batch_size)), b))

    def ms_per_image(self, model: str, dataset: str, batch_size: int) -> float:
        canonical = parse_name(model).name
        at_batch = [s for s in self.steps if s.batch_size == self.nearest_batch_size(batch_size)]
        for step in at_batch:
            if (step.model, step.dataset, step.batch_size) == (canonical, dataset, batch_size):
                return step.ms_per_image
        points = [(network_costs(s.model, s.dataset).activation_floats, s.ms_per_image)
                  for s in at_batch]
        intercept, slope = fit_line(points)
        return intercept + slope * network_costs(canonical, dataset).activation_floats


def fit_line(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares ``(intercept, slope)`` of ``y = a + b x`` with both non-negative:
    through the origin where the free line would have a negative term, or from one x."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread > 0:
        slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
        intercept = mean_y - slope * mean_x
        if slope >= 0 and intercept >= 0:
            return intercept, slope
    return 0.0, sum(ys) / sum(xs)


def steps_of_acceptance_run(path: Path) -> list[GpuStep]:
    """The step times a ``gpu_acceptance.sh`` JSON holds (on CUDA only: a ``--dry``
    run's CPU times are not a GPU's); ValueError naming the file if it holds none such."""
    try:
        return [GpuStep(**row) for row in json.loads(Path(path).read_text())["gpu_steps"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path} is not a gpu_acceptance.json with a 'gpu_steps' list of "
                         f"{', '.join(GPU_STEP_COLUMNS)} ({type(error).__name__}: {error})"
                         ) from None


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m archopt.models.costs",
        description=f"Regenerate {TABLE} (default), or add a GPU acceptance run's step "
                    f"times to {GPU_STEPS_TABLE}.",
    )
    parser.add_argument("table", nargs="?", type=Path, help="where to write (default: the "
                        "shipped table)")
    parser.add_argument("--gpu-steps", type=Path, metavar="JSON",
                        help="gpu_acceptance.json of a benchmarks/gpu_acceptance.sh run")
    args = parser.parse_args(argv)
    if args.gpu_steps is None:
        write_table(args.table or Path(__file__).with_name(TABLE))
        return
    try:
        new = steps_of_acceptance_run(args.gpu_steps)
    except ValueError as error:
        parser.error(str(error))
    if not new:
        parser.error(f"{args.gpu_steps} holds no GPU step times (a --dry run, or no GPU)")
    target = args.table or Path(__file__).with_name(GPU_STEPS_TABLE)
    table = read_gpu_steps(target.read_text()) if target.exists() else []
    write_gpu_steps(target, merge_gpu_steps(table, new))
    print(f"{target}: added {len(new)} step times of {', '.join(sorted({s.gpu for s in new}))}")


if __name__ == "__main__":
    main()
