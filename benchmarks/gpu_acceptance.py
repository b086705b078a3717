"""The GPU acceptance run: everything archopt does on a GPU, checked in under 10 minutes.

Run it through ``benchmarks/gpu_acceptance.sh OUTDIR [--dry]`` (which installs what the
machine lacks from ``wheelhouse/`` first; docs/gpus.md). Each phase runs in a process of
its own under a time budget (the budgets add up to less than 10 minutes on one H100), and
prints one line per check, ``PASS``, ``SKIP`` (with the reason: something this machine
does not have) or ``FAIL``; ``OUTDIR/gpu_acceptance.json`` holds every check and
measurement. The exit status is 1 when a check failed.

Phases (the issue's checks):

1. ``env``: GPU name, driver, compute capability, torch / CUDA / cuDNN versions, ONNX
   Runtime's providers and whether its CUDA provider really runs.
2. ``steps``, ``steps-fast``: training step times of ResNet20, ResNet110, the widened
   ResNet110-Shuffle-0.25 and SqueezeNet at batch 128 and 256 through archopt's own
   training loop (``TrainingRun.train_epoch`` on device-resident CIFAR-sized data): ms per
   step, seconds per epoch extrapolated, peak GPU memory, peak host RSS against the train
   rule's ``mem_mb``; in the default settings (fp32) and the fastest (bf16 + compile).
3. ``concurrency``: ResNet20 trained by 1, 4 and 8 processes at once, without and (where
   its daemon starts) with CUDA MPS: the total images/s.
4. ``resume``: a run killed after its first epoch resumes on CUDA and finishes; a resume
   state holding another number of GPUs' RNG states is refused by name.
5. ``bench``: the CUDA benchmark of a trained-like network (logits of magnitude 10-20) in
   every runtime present, each within ``bench.atol`` of eager PyTorch; ONNX Runtime, where
   it has a CUDA provider, really runs on CUDA.
6. ``study``: the quick study on the GPU end to end on fake data in the official on-disk
   formats (one network, one Pix2Pix epoch, pruning, the CUDA benchmark, the report).
7. ``estimate``: the full (paper) study's GPU-hours on this GPU from the measured step
   times, as the study plan computes them.

``--dry`` runs every part that can run on a CPU, quickly, at tiny sizes, and skips what
needs CUDA saying so; the tests run it (tests/test_gpu_acceptance.py).

This file imports only the standard library at the top: its ``setup`` command runs before
archopt and its dependencies are installed.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
WHEELHOUSE = REPO / "wheelhouse"
RESULT = "gpu_acceptance.json"
# Never installed from the wheelhouse: the machine's own torch is the one to accept, and
# its ONNX Runtime (the CPU package, or onnxruntime-gpu: too large to bring) is checked.
NEVER_INSTALLED = ("torch", "onnxruntime")
STEP_MODELS = ("resnet20", "squeezenet", "resnet110", "resnet110-shuffle-0.25")
CIFAR_TRAIN_IMAGES = 45_000  # an epoch of the paper's training split (50,000 - 5,000)
LOGIT_RANGE = (10.0, 20.0)  # a trained network's largest |logit|, as the bench check wants


@dataclass(frozen=True)
class Sizes:
    """Everything that differs between the GPU run and the dry run on a CPU."""

    device: str
    threads: int  # torch's CPU threads in each phase (train.threads' default on a GPU)
    images: int  # in memory for the step timings (CIFAR-10's training set on a GPU)
    batch_sizes: tuple[int, ...]
    warmup_steps: int
    timed_steps: int
    processes: tuple[int, ...]  # concurrency rounds
    window_s: float  # each round's timed window
    resume_images: int
    bench_images: int
    min_duration_s: float  # of each timed runtime (bench.min_duration_s)
    study_train: int  # train_subset of the study (val_size is a quarter of it)
    study_epochs: int
    gan_pairs: int  # 0: no Pix2Pix in the study
    gan_height: int


GPU = Sizes("cuda", 4, 50_000, (128, 256), 5, 30, (1, 4, 8), 5.0, 2_560, 100, 0.5, 2_000, 1, 32,
            256)
DRY = Sizes("cpu", 1, 128, (8,), 1, 1, (1, 2), 0.5, 128, 20, 0.0, 256, 1, 0, 32)


# Each phase's budget on one H100: the phase is killed beyond it. They add up to 520 s;
# with the setup (pip, ~30 s) the run stays under 10 minutes.
PHASES = {"env": 20, "steps": 70, "steps-fast": 115, "concurrency": 80, "resume": 35,
          "bench": 60, "study": 125, "estimate": 15}
# --dry has no time target of its own (a few minutes on 2 cores): a backstop per phase.
DRY_BUDGET_S = 300


# -- results ----------------------------------------------------------------------------


class Recorder:
    """A phase's checks and measurements: each check is printed as one line and the whole
    is rewritten to ``path`` at once, so a phase killed at its budget keeps what it did."""

    def __init__(self, path: Path, phase: str) -> None:
        self.path, self.phase = path, phase
        self.started = time.time()
        self.checks: list[dict[str, Any]] = []
        self.data: dict[str, Any] = {}
        self.save()

    def check(self, name: str, status: str, detail: str, **data: Any) -> None:
        assert status in ("PASS", "SKIP", "FAIL"), status
        print(f"{status}  {self.phase}/{name}: {detail}", flush=True)
        self.checks.append({"phase": self.phase, "check": name, "status": status,
                            "detail": detail, **data})
        self.save()

    def passes(self, name: str, ok: bool, passed: str, failed: str, **data: Any) -> bool:
        self.check(name, "PASS" if ok else "FAIL", passed if ok else failed, **data)
        return ok

    def put(self, key: str, value: Any) -> None:
        self.data[key] = value
        self.save()

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"checks": self.checks, "data": self.data}, indent=1,
                                  default=str))
        tmp.replace(self.path)


def reason_of(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0][:300]}" if lines else type(error).__name__


@dataclass
class Context:
    """What a phase gets: the sizes, where to write, when its budget ends."""

    sizes: Sizes
    dry: bool
    work: Path
    record: Recorder
    end: float  # time.time() at which the phase is killed

    @property
    def deadline(self) -> float:
        """When to start nothing new: a margin before the end for what is under way."""
        return self.end - 0.15 * (self.end - self.started)

    @property
    def started(self) -> float:
        return self.record.started

    def phase_data(self, phase: str) -> dict[str, Any]:
        path = self.work / "phases" / f"{phase}.json"
        return json.loads(path.read_text())["data"] if path.exists() else {}

    def log(self, name: str) -> Path:
        (self.work / "logs").mkdir(exist_ok=True)
        return self.work / "logs" / f"{name}.log"


# -- setup (standard library only) ------------------------------------------------------


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def archopt_requirements() -> list[str]:
    import tomllib

    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]


def wheel_names() -> set[str]:
    return {normalized(w.name.split("-")[0]) for w in WHEELHOUSE.glob("*.whl")}


def setup(record: Recorder, python: str) -> bool:
    """Install archopt's missing dependencies from ``wheelhouse/`` (never torch), then
    archopt itself without dependencies. False when the run cannot go on."""
    import importlib.metadata as metadata

    missing = []
    for requirement in archopt_requirements():
        name = re.match(r"[A-Za-z0-9._-]+", requirement).group(0)
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            missing.append((normalized(name), requirement))
    available = wheel_names()
    never = [r for n, r in missing if n in NEVER_INSTALLED]
    if never:
        record.check("packages", "FAIL", f"{', '.join(never)} missing: this machine's python "
                     f"({python}) must bring its own (never installed from the wheelhouse)")
        return False
    absent = [n for n, _ in missing if n not in available]
    for name in absent:
        record.check(f"{name}", "SKIP", f"{name} is not installed and {WHEELHOUSE.name}/ has "
                     "no wheel of it (docs/gpus.md): what needs it is skipped")
    wanted = [r for n, r in missing if n in available]
    if wanted:
        command = [python, "-m", "pip", "install", "-q", "--no-index", "--find-links",
                   str(WHEELHOUSE), *wanted]
        done = subprocess.run(command, capture_output=True, text=True)
        if not record.passes("install", done.returncode == 0,
                             f"installed {', '.join(wanted)} from {WHEELHOUSE.name}/",
                             f"pip failed: {done.stderr.strip()[-600:]}"):
            return False
    else:
        record.check("install", "PASS", f"nothing to install from {WHEELHOUSE.name}/")
    record.put("installed_from_wheelhouse", wanted)
    record.put("not_installed", absent)
    return install_archopt(record, python)


def install_archopt(record: Recorder, python: str) -> bool:
    import importlib.util

    spec = importlib.util.find_spec("archopt")
    if spec is not None and Path(spec.origin).resolve().is_relative_to(REPO):
        record.check("archopt", "PASS", f"archopt imports from {REPO}")
        return True
    # No build isolation: this machine cannot download setuptools.
    command = [python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
               "-e", str(REPO)]
    done = subprocess.run(command, capture_output=True, text=True)
    return record.passes("archopt", done.returncode == 0,
                         f"pip install --no-deps -e {REPO}",
                         f"pip install -e failed: {done.stderr.strip()[-600:]}")


# -- shared helpers (torch from here on) --------------------------------------------------


def fake_cifar(count: int, device: str):
    """``count`` random CIFAR-10-shaped images and labels (the pixels do not matter for
    timing), on ``device`` as the training job keeps them."""
    import torch

    from archopt.data import ImageSet

    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (count, 3, 32, 32), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, 10, (count,), generator=generator)
    return ImageSet(images, labels).to(device)


def first_batches(source: Callable, count: int) -> Callable:
    """A batch source giving the first ``count`` batches of ``source``'s epochs."""
    return lambda generator: itertools.islice(source(generator), count)


def quiet_stream():
    import logging

    from archopt.progress import LogStream

    return LogStream(logging.getLogger("gpu_acceptance.progress"))


def make_run(model: str, batch_size: int, device: str, data, precision: str = "fp32",
             compile_step: bool = False):
    """archopt's own training run of ``model`` on ``data`` (lr 0.05, the study's SGD)."""
    import torch

    from archopt.train.jobs import training_batches
    from archopt.train.loop import RunSpec, TrainingRun

    spec = RunSpec(model, "cifar10", 0.05, batch_size, 0, 1, 0.9, 5e-4, len(data), 0,
                   precision=precision, compile=compile_step)
    run = TrainingRun(spec, torch.device(device))
    return run, training_batches(data, batch_size, "cifar10")


def train_steps(run, source: Callable, steps: int) -> float:
    """Seconds for ``steps`` training steps through ``TrainingRun.train_epoch``, which
    reads its sums back at the end: the device's work is included."""
    start = time.perf_counter()
    run.train_epoch(first_batches(source, steps), steps, quiet_stream())
    return time.perf_counter() - start


def reset_peak_rss() -> None:
    """Restart the kernel's peak-RSS count of this process (Linux ``clear_refs``)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass  # the peak then covers the whole process, an upper bound


def peak_rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


# -- 1. environment -----------------------------------------------------------------------


def phase_env(ctx: Context) -> None:
    import platform

    import torch

    from archopt.gpu import driver_gpus, gpu_unavailable_message

    info: dict[str, Any] = {
        "python": platform.python_version(), "torch": torch.__version__,
        "torch_cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
        "torch_arch_list": torch.cuda.get_arch_list(), "cpus": os.cpu_count(),
        "cuda_available": torch.cuda.is_available(),
    }
    models, driver = driver_gpus()
    info["driver"], info["driver_gpus"] = driver, models
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info |= {"gpu": props.name, "gpus": torch.cuda.device_count(),
                 "compute_capability": f"{props.major}.{props.minor}",
                 "gpu_memory_gib": round(props.total_memory / 2**30, 1),
                 "multiprocessors": props.multi_processor_count}
        ctx.record.check("gpu", "PASS", f"{props.name}, driver {driver}, compute capability "
                         f"{props.major}.{props.minor}, {info['gpu_memory_gib']} GiB, torch "
                         f"{torch.__version__} (CUDA {torch.version.cuda}, cuDNN "
                         f"{info['cudnn']}, kernels {' '.join(info['torch_arch_list'])})")
    elif ctx.dry:
        ctx.record.check("gpu", "SKIP", f"--dry: no CUDA needed; torch {torch.__version__}, "
                         f"{os.cpu_count()} CPUs")
    else:
        ctx.record.check("gpu", "FAIL", gpu_unavailable_message(1))
    ort = ort_environment(ctx)
    ctx.record.put("env", info | ort | other_versions())


def ort_environment(ctx: Context) -> dict[str, Any]:
    """ONNX Runtime's providers, and whether a session really runs on the CUDA one."""
    import onnxruntime

    from archopt.runtimes import get_runtime

    providers = onnxruntime.get_available_providers()
    ctx.record.check("onnxruntime", "PASS",
                     f"onnxruntime {onnxruntime.__version__}, providers {', '.join(providers)}")
    if ctx.dry:
        reason = "--dry: CUDA is not used"
    else:
        reason = get_runtime("onnxruntime").unavailable("cuda:0")
    if reason:
        ctx.record.check("onnxruntime-cuda", "SKIP", f"ONNX Runtime cannot run on the GPU here "
                         f"({reason}); its CUDA benchmark is skipped, the rest goes on")
    else:
        ctx.record.check("onnxruntime-cuda", "PASS", "a session runs on the CUDAExecutionProvider")
    return {"onnxruntime": onnxruntime.__version__, "onnxruntime_providers": providers,
            "onnxruntime_cuda": reason or "runs"}


def other_versions() -> dict[str, str]:
    import importlib.metadata as metadata

    versions = {}
    for name in ("snakemake", "torch-pruning", "openvino", "numpy", "onnx"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


# -- 2. training step times ---------------------------------------------------------------


def time_config(model: str, batch_size: int, precision: str, compile_step: bool,
                ctx: Context) -> dict[str, Any]:
    """One (network, batch, settings) through archopt's entry point for it
    (``time_training_steps``: warm-up and compilation first, then the timed steps)."""
    import torch

    from archopt.train.loop import time_training_steps
    from archopt.train.resources import gpu_mem_mb, train_mem_mb

    sizes = ctx.sizes
    if compile_step:
        torch._dynamo.reset()  # a fresh compile per network, never a recompile limit hit
    if sizes.device == "cuda":
        torch.cuda.empty_cache()
    reset_peak_rss()
    timing = time_training_steps(model, batch_size, sizes.timed_steps, sizes.device,
                                 precision, compile_step, warmup=sizes.warmup_steps)
    gpu_bytes = timing.peak_gpu_memory_bytes
    result = {
        "model": model, "batch_size": batch_size, "precision": precision,
        "compile": compile_step, "ms_per_step": timing.ms_per_step,
        "images_per_s": timing.images_per_second,
        "epoch_s": timing.ms_per_step * -(-CIFAR_TRAIN_IMAGES // batch_size) / 1000,
        "first_step_s": timing.first_step_seconds,
        "peak_gpu_mb": None if gpu_bytes is None else gpu_bytes / 2**20,
        "gpu_mem_mb": gpu_mem_mb(model, "cifar10", batch_size, precision),
        "peak_rss_mb": peak_rss_mb(), "mem_mb": train_mem_mb(model, "cifar10", batch_size),
    }
    gc.collect()  # the network and its optimizer state, before the next one is built
    return result


def step_line(result: dict[str, Any]) -> str:
    gpu = (f", peak GPU {result['peak_gpu_mb']:.0f} MB of gpu_mem_mb {result['gpu_mem_mb']}"
           if result["peak_gpu_mb"] is not None else "")
    compiled = (f", first step {result['first_step_s']:.1f} s (compilation)"
                if result["compile"] else "")
    return (f"{result['ms_per_step']:.1f} ms/step, {result['images_per_s']:.0f} img/s, "
            f"{result['epoch_s']:.1f} s/epoch (45,000 images){compiled}{gpu}, host RSS "
            f"{result['peak_rss_mb']:.0f} MB of mem_mb {result['mem_mb']}")


def beyond_estimates(result: dict[str, Any]) -> str:
    """Which of the train rule's memory estimates the measurement exceeds ('' if none):
    a cluster kills a job beyond its ``mem_mb``; ``gpu_mem_mb`` decides runs per GPU."""
    beyond = []
    if result["peak_rss_mb"] > result["mem_mb"]:
        beyond.append("the host RSS exceeds the rule's mem_mb")
    if result["peak_gpu_mb"] is not None and result["peak_gpu_mb"] > result["gpu_mem_mb"]:
        beyond.append("the GPU memory exceeds the rule's gpu_mem_mb")
    return "; ".join(beyond)


def step_configs(sizes: Sizes) -> list[tuple[str, int]]:
    """Cheapest first: a phase out of time skips the most expensive."""
    return [(model, batch) for batch in sizes.batch_sizes for model in STEP_MODELS]


@contextmanager
def holding_a_training_set(sizes: Sizes) -> Iterator[None]:
    """CIFAR's training set in host memory and on the device while the body runs, as a
    training job holds it: memory measured meanwhile is a job's."""
    host = fake_cifar(sizes.images, "cpu")
    on_device = host.to(sizes.device)
    yield
    del host, on_device


def measure_steps(ctx: Context, precision: str, compile_step: bool) -> None:
    results, slowest_s = [], 0.0
    with holding_a_training_set(ctx.sizes):
        for model, batch in step_configs(ctx.sizes):
            name = f"{model} bs{batch} {precision}{' compile' if compile_step else ''}"
            needed = slowest_s * 1.5 + 5
            if time.time() + needed > ctx.deadline:
                ctx.record.check(name, "SKIP", f"not started: the phase's budget leaves less "
                                 f"than {needed:.0f} s (1.5 x the slowest setting so far)")
                continue
            started = time.time()
            try:
                result = time_config(model, batch, precision, compile_step, ctx)
            except Exception as error:  # noqa: BLE001 - a failed setting is a result
                traceback.print_exc()  # into the phase's log
                ctx.record.check(name, "FAIL", reason_of(error))
                continue
            slowest_s = max(slowest_s, time.time() - started)
            results.append(result)
            ctx.record.put("steps", results)
            ctx.record.passes(name, not beyond_estimates(result), step_line(result),
                              f"{step_line(result)}: {beyond_estimates(result)}", **result)


def phase_steps(ctx: Context) -> None:
    measure_steps(ctx, "fp32", False)


def phase_steps_fast(ctx: Context) -> None:
    if ctx.dry:
        ctx.record.check("fastest", "SKIP", "--dry: train.precision bf16 and train.compile need "
                         "CUDA (refused on the CPU)")
        return
    measure_steps(ctx, "bf16", True)


# -- 3. concurrent runs -------------------------------------------------------------------


def worker(device: str, batch_size: int, images: int, warmup: int) -> None:
    """A training process for the concurrency check: warms up, says ``ready``, then for
    each ``START_EPOCH SECONDS`` line on stdin trains from that moment for that long and
    prints ``{"images": ..., "seconds": ...}``."""
    import torch

    torch.set_num_threads(1)
    data = fake_cifar(images, device)
    run, source = make_run("resnet20", batch_size, device, data)
    train_steps(run, source, warmup)
    print("ready", flush=True)
    for line in sys.stdin:
        start_at, seconds = map(float, line.split())
        time.sleep(max(0.0, start_at - time.time()))
        start, done = time.perf_counter(), 0
        while time.perf_counter() - start < seconds:
            train_steps(run, source, 5)
            done += 5 * batch_size
        print(json.dumps({"images": done, "seconds": time.perf_counter() - start}), flush=True)


def start_mps(folder: Path) -> tuple[dict[str, str] | None, str | None]:
    """Start a CUDA MPS daemon of this run's own; (its client environment, or why not)."""
    control = shutil.which("nvidia-cuda-mps-control")
    if control is None:
        return None, "nvidia-cuda-mps-control is not on the PATH"
    env = {"CUDA_MPS_PIPE_DIRECTORY": str(folder / "pipe"),
           "CUDA_MPS_LOG_DIRECTORY": str(folder / "log")}
    for path in env.values():
        Path(path).mkdir(parents=True, exist_ok=True)
    done = subprocess.run([control, "-d"], env=os.environ | env, capture_output=True, text=True,
                          timeout=20)
    if done.returncode != 0:
        return None, f"nvidia-cuda-mps-control -d failed: {done.stderr.strip()[:200]}"
    return env, None


def stop_mps(env: dict[str, str]) -> None:
    subprocess.run(["nvidia-cuda-mps-control"], input="quit\n", env=os.environ | env,
                   capture_output=True, text=True, timeout=20)


def concurrent_rounds(ctx: Context, label: str, env: dict[str, str]) -> list[dict[str, Any]]:
    """One pool of processes (as many as the largest round), then each round's window."""
    sizes = ctx.sizes
    batch = sizes.batch_sizes[0]
    command = [sys.executable, __file__, "worker", sizes.device, str(batch),
               str(min(sizes.images, 10_000)), str(sizes.warmup_steps)]
    with ctx.log(f"concurrency-{label}").open("w") as log:
        pool = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=log, text=True, env=os.environ | env)
                for _ in range(max(sizes.processes))]
        try:
            for process in pool:
                if process.stdout.readline().strip() != "ready":
                    raise RuntimeError(f"a training process did not start (see {log.name})")
            rounds = []
            for count in sizes.processes:
                start_at = time.time() + 0.5
                for process in pool[:count]:
                    process.stdin.write(f"{start_at} {sizes.window_s}\n")
                    process.stdin.flush()
                runs = [json.loads(process.stdout.readline()) for process in pool[:count]]
                rate = sum(r["images"] / r["seconds"] for r in runs)
                rounds.append({"mps": label == "mps", "processes": count,
                               "images_per_s": rate, "batch_size": batch})
                ctx.record.put(f"concurrency_{label}", rounds)
            return rounds
        finally:
            for process in pool:
                process.stdin.close()
            for process in pool:
                process.wait(timeout=30)


def phase_concurrency(ctx: Context) -> None:
    concurrency_check(ctx, "plain", {}, "FAIL")
    if ctx.dry:
        ctx.record.check("mps", "SKIP", "--dry: CUDA MPS needs a GPU")
        return
    env, reason = start_mps(ctx.work / "mps")
    if env is None:
        ctx.record.check("mps", "SKIP", f"MPS did not start ({reason})")
        return
    try:
        # MPS is optional (archopt shares a GPU without it): clients that cannot use the
        # daemon on this machine are a SKIP, with the reason.
        concurrency_check(ctx, "mps", env, "SKIP")
    finally:
        stop_mps(env)


def concurrency_check(ctx: Context, label: str, env: dict[str, str], on_error: str) -> None:
    try:
        rounds = concurrent_rounds(ctx, label, env)
    except Exception as error:  # noqa: BLE001 - a failed round is a result
        traceback.print_exc()  # into the phase's log
        ctx.record.check(label, on_error, reason_of(error))
        return
    single = rounds[0]["images_per_s"]
    text = ", ".join(f"{r['processes']} x ResNet20: {r['images_per_s']:.0f} img/s "
                     f"({r['images_per_s'] / single:.2f}x)" for r in rounds)
    ctx.record.check(label, "PASS", f"{'with' if label == 'mps' else 'without'} MPS: {text}")


# -- 4. resume ----------------------------------------------------------------------------


def resume_child(device: str, images: int, state: str, metrics: str) -> None:
    """Train a 3-epoch ResNet20 run (or resume it from ``state``) and write its metrics."""
    import logging

    import torch

    from archopt.train.jobs import evaluation_batches, training_batches
    from archopt.train.loop import RunSpec, run_metrics, train_run

    torch.set_num_threads(1)
    data = fake_cifar(images + images // 4, device)
    train, val = data.select(slice(0, images)), data.select(slice(images, None))
    spec = RunSpec("resnet20", "cifar10", 0.05, 128, 0, 3, 0.9, 5e-4, len(train), len(val))
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    run = train_run(spec, training_batches(train, 128, "cifar10"),
                    evaluation_batches(val, "cifar10"), state, torch.device(device),
                    logging.getLogger("resume"))
    Path(metrics).write_text(json.dumps(run_metrics(run)))


def run_resume_child(ctx: Context, state: Path, metrics: Path, kill_after_epoch: bool,
                     log: Any) -> int:
    command = [sys.executable, __file__, "resume-child", ctx.sizes.device,
               str(ctx.sizes.resume_images), str(state), str(metrics)]
    process = subprocess.Popen(command, stdout=log, stderr=log)
    if kill_after_epoch:
        while process.poll() is None and not state.exists():
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    return process.wait()


def phase_resume(ctx: Context) -> None:
    import torch

    from archopt.train.checkpoint import CheckpointError, save_torch_atomic
    from archopt.train.loop import restart_advice
    from archopt.train.resume import own_cuda_rng

    folder = ctx.work / "resume"
    folder.mkdir(exist_ok=True)
    state, metrics, whole = folder / "state.pt", folder / "metrics.json", folder / "whole.json"
    with ctx.log("resume").open("w") as log:
        killed = run_resume_child(ctx, state, metrics, True, log)
        saved = torch.load(state, weights_only=True)
        resumed = run_resume_child(ctx, state, metrics, False, log)
        uninterrupted = run_resume_child(ctx, folder / "whole.pt", whole, False, log)
    if resumed or uninterrupted or not metrics.exists():
        ctx.record.check("kill-resume", "FAIL", f"exit codes {resumed}, {uninterrupted} (see "
                         f"{ctx.log('resume')})")
        return
    compare_resumed(ctx, killed, saved, json.loads(metrics.read_text()),
                    json.loads(whole.read_text()))
    # What an older archopt saved with two GPUs visible: two CUDA RNG states.
    two = torch.get_rng_state()[:16]
    saved["rng"]["cuda"] = [two, two]
    foreign = folder / "two_gpus.pt"
    save_torch_atomic(foreign, saved)
    device = "cuda:0" if ctx.sizes.device == "cuda" else "cpu"
    try:
        own_cuda_rng(torch.load(foreign, weights_only=True)["rng"], device, foreign,
                     "resume state", restart_advice(foreign))
    except CheckpointError as error:
        ctx.record.passes("gpu-count", "2 GPUs" in str(error), f"refused by name: {error}",
                          f"refused without naming the GPU count: {error}")
        return
    ctx.record.check("gpu-count", "FAIL", "a state with 2 GPUs' RNG states was accepted")


def compare_resumed(ctx: Context, killed: int, saved: dict, resumed: dict,
                    whole: dict) -> None:
    """Killed after epoch 1, resumed to epoch 3: on the CPU exactly the uninterrupted run;
    on CUDA (cuDNN kernels are not bit-reproducible) within 5 points of val top-1."""
    epochs = [h["epoch"] for h in resumed["history"]]
    carried = resumed["history"][0] == saved["history"][0]
    keys = ("train_loss", "val_loss", "val_top1", "val_top5")
    if ctx.sizes.device == "cpu":
        same = all(a[k] == b[k] for a, b in zip(resumed["history"], whole["history"])
                   for k in keys)
        agreement = "identical to the uninterrupted run's history"
    else:
        same = abs(resumed["val_top1"] - whole["val_top1"]) <= 5.0
        agreement = (f"best val top-1 {resumed['val_top1']:.2f}% vs {whole['val_top1']:.2f}% "
                     "uninterrupted (within 5 points)")
    ok = killed == -signal.SIGKILL and epochs == [1, 2, 3] and carried and same
    ctx.record.passes("kill-resume", ok, f"killed after epoch 1 on {resumed['device']}, "
                      f"resumed to epoch 3; {agreement}",
                      f"killed (exit {killed}) then resumed: epochs {epochs}, epoch 1 carried "
                      f"{carried}, {agreement}: {same}", resumed=resumed["val_top1"],
                      uninterrupted=whole["val_top1"])


# -- 5. the CUDA benchmark of a trained-like network ---------------------------------------


def trained_like(model_name: str, images):
    """``model_name`` with BatchNorm statistics of ``images`` and its classifier scaled so
    that the largest |logit| is 15, as after training (untrained logits are ~0.1, too
    small to show a runtime's rounding, e.g. TF32, against ``bench.atol``)."""
    import torch

    from archopt.models import get_model

    torch.manual_seed(0)
    model = get_model(model_name, "cifar10")
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.momentum = None  # a plain average over the calibration passes
    batch = torch.from_numpy(images)
    with torch.no_grad():
        model.train()
        for _ in range(3):
            model(batch)
        model.eval()
        classifier = [m for m in model.modules() if isinstance(m, (torch.nn.Linear,
                                                                   torch.nn.Conv2d))][-1]
        largest = model(batch).abs().max()
        classifier.weight.mul_(sum(LOGIT_RANGE) / 2 / largest)
        if classifier.bias is not None:
            classifier.bias.mul_(sum(LOGIT_RANGE) / 2 / largest)
        reached = float(model(batch).abs().max())
    return model, reached


def bench_images(count: int):
    import numpy as np
    import torch

    from archopt.data.augment import normalize

    generator = torch.Generator().manual_seed(1)
    pixels = torch.randint(0, 256, (count, 3, 32, 32), dtype=torch.uint8, generator=generator)
    labels = np.arange(count) % 10
    return normalize(pixels, "cifar10").numpy(), labels


def paper_config() -> dict[str, Any]:
    from archopt.config import load_config

    return load_config(REPO / "config.yaml", REPO / "workflow/schemas/config.schema.yaml")


def expected_skip(runtime: str, reason: str) -> bool:
    """Skips this machine explains: no ONNX Runtime CUDA provider (onnxruntime-gpu cannot
    come in the wheelhouse), OpenVINO absent or without an (Intel) GPU device."""
    return (runtime == "onnxruntime" and "CUDAExecutionProvider" in reason) or (
        runtime == "openvino" and ("not installed" in reason or "GPU" in reason))


def check_runtimes(ctx: Context, name: str, result: dict[str, Any], device: str,
                   atol: float) -> None:
    """One line per runtime of a bench JSON: timed within ``atol``, or an expected skip."""
    from archopt.runtimes import list_runtimes

    for runtime in (r for r in list_runtimes() if r in result):
        entry, check = result[runtime], f"{name} {runtime}"
        if "skipped" in entry:
            status = "SKIP" if expected_skip(runtime, entry["skipped"]) else "FAIL"
            ctx.record.check(check, status, f"skipped: {entry['skipped']}")
        elif "failed" in entry or "median_ms" not in entry:
            ctx.record.check(check, "FAIL", f"failed: {entry.get('failed', entry)}")
        else:
            provider = entry.get("provider")
            on_device = runtime != "onnxruntime" or provider == (
                "CUDAExecutionProvider" if device.startswith("cuda") else "CPUExecutionProvider")
            ok = entry["max_abs_diff"] <= atol and on_device
            ctx.record.passes(check, ok, f"median {entry['median_ms']:.3f} ms, max |diff| "
                              f"{entry['max_abs_diff']:.1e} <= atol {atol}"
                              + (f", on {provider}" if provider else ""),
                              f"max |diff| {entry['max_abs_diff']:.1e} (atol {atol}), "
                              f"provider {provider}", **{k: entry.get(k) for k in
                                                         ("median_ms", "max_abs_diff")})


def phase_bench(ctx: Context) -> None:
    import torch

    from archopt.bench.benchmark import benchmark, deployable_onnx
    from archopt.bench.settings import BenchSettings
    from archopt.runtimes import list_runtimes

    atol = paper_config()["bench"]["atol"]
    images, labels = bench_images(ctx.sizes.bench_images)
    model, reached = trained_like("resnet20", images)
    ctx.record.passes("trained-like", LOGIT_RANGE[0] <= reached <= LOGIT_RANGE[1],
                      f"ResNet20 with largest |logit| {reached:.1f}",
                      f"largest |logit| {reached:.1f}, outside {LOGIT_RANGE}")
    torch.set_num_threads(1)
    onnx_model = deployable_onnx(model, images, threads=1, warmup=2)
    runtimes = [r for r in list_runtimes() if not (ctx.dry and r == "inductor")]
    if ctx.dry:
        ctx.record.check("inductor", "SKIP", "--dry: compiling takes minutes on 2 CPU cores")
    settings = BenchSettings(threads=1, warmup=5, runtimes=tuple(runtimes), atol=atol,
                             min_queries=len(images), min_duration_s=ctx.sizes.min_duration_s)
    device = "cuda:0" if ctx.sizes.device == "cuda" else "cpu"
    result = benchmark(model, onnx_model, images, labels, device, settings)
    ctx.record.put("bench", {k: v for k, v in result.items() if k != "env"})
    check_runtimes(ctx, "resnet20", result, device, atol)


# -- 6. the quick study on the GPU ---------------------------------------------------------


STUDY_RUNS_PER_GPU = 2  # the study's training-type jobs share the GPU (train.runs_per_gpu)


def study_config(sizes: Sizes) -> dict[str, Any]:
    """The quick preset, cut to fit the budget: one network (the bench phase covers
    inductor and a trained-like network); on the GPU one Pix2Pix epoch and pruning (it
    fine-tunes there). On a CPU both are the project's own tests' business."""
    device = "cuda" if sizes.device == "cuda" else "cpu"
    return {
        "networks": ["resnet20"],
        "train": {"max_epochs": sizes.study_epochs, "train_subset": sizes.study_train,
                  "val_size": sizes.study_train // 4, "runs_per_gpu": STUDY_RUNS_PER_GPU},
        "gan": {"variants": ["pix2pix"] if sizes.gan_pairs else [], "epochs": 1,
                "epochs_decay": 0, "train_subset": sizes.gan_pairs or None,
                "val_subset": sizes.gan_pairs or None},
        "bench": {"devices": [device], "runtimes": ["eager", "onnxruntime", "openvino"],
                  "images": sizes.bench_images, "min_queries": sizes.bench_images,
                  "min_duration_s": sizes.min_duration_s},
        "posttrain": {"methods": ["prune"] if device == "cuda" else []},
    }


def prepare_study(folder: Path, sizes: Sizes) -> None:
    """The workflow and fake data in the official formats, as a finished download."""
    sys.path.insert(0, str(REPO / "tests"))  # the tests' own builders of on-disk data
    from conftest import copy_workflow
    from fake_data import write_cifar_tree, write_finished_download, write_maps_tree

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    copy_workflow(folder)
    resources = folder / "resources"
    write_cifar_tree(resources, "cifar10", n_train=sizes.study_train * 5 // 4 + 100,
                     n_test=max(sizes.bench_images, 100))
    if sizes.gan_pairs:
        write_maps_tree(resources / "maps", sizes.gan_pairs, sizes.gan_pairs,
                        height=sizes.gan_height)
        write_finished_download(resources / "maps", "maps")
    (folder / "acceptance.yaml").write_text(json.dumps(study_config(sizes)))


def phase_study(ctx: Context) -> None:
    folder = ctx.work / "study"
    prepare_study(folder, ctx.sizes)
    cores = str(os.cpu_count())
    # A failed job's log goes into the study's (whose tail a FAIL line quotes).
    command = [sys.executable, "-m", "snakemake", "--cores", cores, "--config", "preset=quick",
               "--configfile", "acceptance.yaml", "--resources", f"gpu={STUDY_RUNS_PER_GPU}",
               "--keep-going", "--show-failed-logs", "--", "all"]
    started = time.time()
    with ctx.log("study").open("w") as log:
        code = run_until(command, folder, log, ctx.end - 10)
    seconds = time.time() - started
    if not ctx.record.passes("snakemake", code == 0,
                             f"quick study (fake data) done in {seconds:.0f} s",
                             f"snakemake {'stopped at the budget' if code is None else 'exited'}"
                             f" {code or ''} after {seconds:.0f} s; last lines of "
                             f"{ctx.log('study')}: {tail(ctx.log('study'))}"):
        return
    check_study_results(ctx, folder)


def run_until(command: list[str], folder: Path, log: Any, end: float) -> int | None:
    """Run Snakemake until ``end``; then stop it as Ctrl-C would (it cancels its jobs and
    says which, for the FAIL line) and return None."""
    process = subprocess.Popen(command, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    try:
        return process.wait(timeout=max(1.0, end - time.time()))
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=8)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        return None


def tail(path: Path, lines: int = 15) -> str:
    return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])


def check_study_results(ctx: Context, folder: Path) -> None:
    device = ctx.sizes.device
    results = folder / "results"
    runs = sorted(results.glob("train/cifar10/*/*/*/*/metrics.json"))
    bench_device = "cuda" if device == "cuda" else "cpu"
    benches = sorted(results.glob(f"bench/*/*/{bench_device}.json"))  # ResNet20, Pix2Pix
    if not ctx.record.passes("results", runs and benches, f"{len(runs)} training runs, "
                             f"{len(benches)} {bench_device} benchmarks",
                             f"missing: {len(runs)} training runs, {len(benches)} benchmarks"):
        return
    for path in runs:
        metrics = json.loads(path.read_text())
        # The paper's fp32: TF32 off, and metrics.json says so.
        tf32 = {k: metrics.get(k) for k in ("tf32_conv", "tf32_matmul")}
        ok = metrics["device"].startswith(device) and set(tf32.values()) == {False}
        ctx.record.passes(f"train {metrics['model']}", ok,
                          f"trained on {metrics['device']} ({metrics.get('gpu_name')}), "
                          f"{metrics['epochs']} epochs, TF32 off as recorded",
                          f"trained on {metrics['device']} (expected {device}), TF32 {tf32}")
    for path in benches:
        result = json.loads(path.read_text())
        if "skipped" in result:
            ctx.record.check(f"bench {path.parent.name}", "FAIL", f"skipped: {result['skipped']}")
            continue
        check_runtimes(ctx, f"study {path.parent.name}", result, bench_device,
                       paper_config()["bench"]["atol"])
    report = results / "report/index.html"
    ctx.record.passes("report", report.is_file(), f"{report.relative_to(folder)} written",
                      "no report/index.html")
    if ctx.sizes.gan_pairs:
        check_pix2pix(ctx, results, device)
    else:
        ctx.record.check("pix2pix", "SKIP", "--dry: a Pix2Pix epoch takes minutes on 2 CPU cores")


def check_pix2pix(ctx: Context, results: Path, device: str) -> None:
    gan = json.loads((results / "gan/maps/pix2pix/summary.json").read_text())
    pairs, epochs = gan["train_pairs"], gan["epochs"]
    ms_per_pair = 1000 * gan["train_seconds"] / (pairs * epochs)
    ctx.record.put("pix2pix", {"ms_per_pair": ms_per_pair, "pairs": pairs, "epochs": epochs,
                               "device": gan["device"]})
    gan_device = gan["device"]["device"] if isinstance(gan["device"], dict) else gan["device"]
    ctx.record.passes("pix2pix", gan_device.startswith(device),
                      f"{epochs} epoch of {pairs} pairs on {gan_device}: {ms_per_pair:.0f} ms "
                      "per pair (first epoch: warm-up included)",
                      f"Pix2Pix trained on {gan_device}, not {device}")


# -- 7. the full study's GPU-hours ---------------------------------------------------------


def measured_steps(ctx: Context, gpu: str) -> list:
    """The step times the other phases measured, as the study plan's table rows."""
    from archopt.models.costs import GpuStep

    env = ctx.phase_data("env").get("env", {})
    stamp = {"gpu": gpu, "torch": env.get("torch", "?"), "measured": date.today().isoformat()}
    rows = [GpuStep(model=r["model"], dataset="cifar10", batch_size=r["batch_size"],
                    precision=r["precision"], compile=r["compile"],
                    ms_per_step=r["ms_per_step"], **stamp)
            for phase in ("steps", "steps-fast") for r in ctx.phase_data(phase).get("steps", [])]
    pix2pix = ctx.phase_data("study").get("pix2pix")
    if pix2pix:  # Pix2Pix trains in fp32 at batch 1
        rows.append(GpuStep(model="pix2pix", dataset="maps", batch_size=1, precision="fp32",
                            compile=False, ms_per_step=pix2pix["ms_per_pair"], **stamp))
    return rows


def phase_estimate(ctx: Context) -> None:
    from archopt.models.costs import DEFAULT_SETTINGS
    from archopt.plan import study_plan

    gpu = ctx.phase_data("env").get("env", {}).get("gpu") or "cpu (--dry: not a GPU)"
    rows = measured_steps(ctx, gpu)
    if not ctx.dry:
        ctx.record.put("gpu_steps", [asdict(r) for r in rows])
    paper = paper_config()
    hours = {}
    for settings in sorted({r.settings for r in rows}, key=lambda s: s != DEFAULT_SETTINGS):
        hours[" + ".join([settings[0], *["compile"] * settings[1]])] = {
            stage.name: stage.gpu_minutes[gpu] / 60 for stage in study_plan(paper, rows, settings)
            if stage.gpu_minutes and gpu in stage.gpu_minutes}
    if not hours.get("fp32"):
        ctx.record.check("gpu-hours", "FAIL", "no fp32 step times were measured")
        return
    gain = concurrency_gain(ctx)
    ctx.record.put("estimate", {"gpu": gpu, "hours": hours, "runs_per_gpu_gain": gain})
    text = "; ".join(f"{name}: " + ", ".join(f"{stage} {h:.1f} h" for stage, h in by_stage.items())
                     for name, by_stage in hours.items())
    if gain:
        text += (f"; {gain[0]} concurrent runs train {gain[1]:.2f}x the images/s of one "
                 f"(measured): classifiers about {hours['fp32']['train classifiers'] / gain[1]:.1f}"
                 " h in fp32")
    ctx.record.check("gpu-hours", "PASS", f"the paper study on {gpu}, one run at a time, "
                     f"every epoch to max_epochs: {text}")


def concurrency_gain(ctx: Context) -> tuple[int, float] | None:
    """(processes, throughput over one process) of the best concurrency round."""
    data = ctx.phase_data("concurrency")
    rounds = [r for key in ("concurrency_plain", "concurrency_mps") for r in data.get(key, [])]
    single = [r["images_per_s"] for r in rounds if r["processes"] == 1]
    if not single:
        return None
    best = max(rounds, key=lambda r: r["images_per_s"])
    return None if best["processes"] == 1 else (best["processes"],
                                                best["images_per_s"] / max(single))


# -- orchestration ------------------------------------------------------------------------


PHASE_FUNCTIONS: dict[str, Callable[[Context], None]] = {
    "env": phase_env, "steps": phase_steps, "steps-fast": phase_steps_fast,
    "concurrency": phase_concurrency, "resume": phase_resume, "bench": phase_bench,
    "study": phase_study, "estimate": phase_estimate,
}


def run_phase(name: str, work: Path, dry: bool, end: float) -> None:
    """One phase, in this process (started by :func:`run_all`)."""
    import torch

    record = Recorder(work / "phases" / f"{name}.json", name)
    ctx = Context(DRY if dry else GPU, dry, work, record, end)
    # One thread on a small CPU: 2 threads waiting for each other at every layer run
    # several times slower than one on a loaded 2-core machine (docs/training.md).
    torch.set_num_threads(ctx.sizes.threads)
    try:
        PHASE_FUNCTIONS[name](ctx)
    except Exception as error:  # noqa: BLE001 - every failure becomes a check line
        traceback.print_exc()  # into the phase's log
        record.check("error", "FAIL", f"{reason_of(error)} (traceback in "
                     f"{work / 'logs' / name}.stderr.log)")


def run_all(out: Path, work: Path, dry: bool) -> int:
    """Every phase in a fresh process under its budget; the merged JSON; the exit status."""
    started, default = time.time(), signal.getsignal(signal.SIGTERM)
    for phase, budget in PHASES.items() if not failed(work / "phases" / "setup.json") else ():
        budget = DRY_BUDGET_S if dry else budget
        if phase != "env" and not dry and not cuda_found(work):
            break
        command = [sys.executable, __file__, "phase", phase, str(work),
                   str(time.time() + budget)] + (["--dry"] if dry else [])
        # The check lines on stdout; warnings and tracebacks in the phase's log.
        errors = work / "logs" / f"{phase}.stderr.log"
        errors.parent.mkdir(exist_ok=True)
        with errors.open("w") as stderr:
            # A process group of its own, killed whole at the budget (Snakemake's jobs, the
            # training processes), or when this run is stopped (``timeout`` in the script).
            process = subprocess.Popen(command, stderr=stderr, process_group=0)
            signal.signal(signal.SIGTERM, stopping(process))
            try:
                code = process.wait(timeout=budget)
            except subprocess.TimeoutExpired:
                kill_group(process)
                code = None
        if code != 0:
            late = Recorder(work / "phases" / f"{phase}-budget.json", phase)
            why = (f"the phase exceeded its budget of {budget} s" if code is None
                   else f"the phase's process exited with {code}")
            late.check("budget", "FAIL", f"{why}; last lines of {errors}: {tail(errors, 5)}")
    signal.signal(signal.SIGTERM, default)
    return finish(out, work, dry, time.time() - started)


def kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # the group has ended already
    process.wait()


def stopping(process: subprocess.Popen) -> Callable[[int, Any], None]:
    """A SIGTERM handler: the phase's whole group goes with this run."""

    def stop(signum: int, frame: Any) -> None:
        kill_group(process)
        raise SystemExit(128 + signum)

    return stop


def failed(phase_file: Path) -> bool:
    return phase_file.exists() and any(
        c["status"] == "FAIL" for c in json.loads(phase_file.read_text())["checks"])


def cuda_found(work: Path) -> bool:
    env_file = work / "phases" / "env.json"
    return env_file.exists() and json.loads(env_file.read_text())["data"].get(
        "env", {}).get("cuda_available", False)


def finish(out: Path, work: Path, dry: bool, seconds: float) -> int:
    checks, data = [], {}
    for path in sorted((work / "phases").glob("*.json"), key=lambda p: p.stat().st_mtime):
        content = json.loads(path.read_text())
        checks += content["checks"]
        data[path.stem] = content["data"]
    counts = {s: sum(c["status"] == s for c in checks) for s in ("PASS", "SKIP", "FAIL")}
    gpu_steps = data.get("estimate", {}).get("gpu_steps", [])
    # gpu_steps: what `python -m archopt.models.costs --gpu-steps` adds to the plan's table
    result = {"dry": dry, "seconds": seconds, "work": str(work), "counts": counts,
              "gpu_steps": gpu_steps, "checks": checks, "phases": data}
    out.mkdir(parents=True, exist_ok=True)
    (out / RESULT).write_text(json.dumps(result, indent=1, default=str))
    print(f"gpu_acceptance: {counts['PASS']} passed, {counts['SKIP']} skipped, "
          f"{counts['FAIL']} failed in {seconds:.0f} s; {out / RESULT}", flush=True)
    if gpu_steps:
        print(f"add its step times to the study plan: python -m archopt.models.costs "
              f"--gpu-steps {out / RESULT}")
    return 1 if counts["FAIL"] else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="every phase (what gpu_acceptance.sh runs)")
    run.add_argument("out", type=Path)
    run.add_argument("--work", type=Path, help="phase results, logs, the study (default: a "
                     "new temporary folder)")
    run.add_argument("--dry", action="store_true")
    install = commands.add_parser("setup", help="install what is missing from wheelhouse/")
    install.add_argument("work", type=Path)
    phase = commands.add_parser("phase")
    phase.add_argument("name", choices=PHASE_FUNCTIONS)
    phase.add_argument("work", type=Path)
    phase.add_argument("end", type=float, help="time.time() at which it is killed")
    phase.add_argument("--dry", action="store_true")
    child = commands.add_parser("worker")
    child.add_argument("device")
    child.add_argument("batch_size", type=int)
    child.add_argument("images", type=int)
    child.add_argument("warmup", type=int)
    resume = commands.add_parser("resume-child")
    resume.add_argument("device")
    resume.add_argument("images", type=int)
    resume.add_argument("state")
    resume.add_argument("metrics")
    args = parser.parse_args()
    if args.command == "setup":
        (args.work / "phases").mkdir(parents=True, exist_ok=True)
        sys.exit(0 if setup(Recorder(args.work / "phases" / "setup.json", "setup"),
                            sys.executable) else 1)
    if args.command == "run":
        work = args.work or Path(tempfile.mkdtemp(prefix="archopt-gpu-acceptance-"))
        (work / "phases").mkdir(parents=True, exist_ok=True)
        sys.exit(run_all(args.out, work, args.dry))
    if args.command == "phase":
        run_phase(args.name, args.work, args.dry, args.end)
    elif args.command == "worker":
        worker(args.device, args.batch_size, args.images, args.warmup)
    else:
        resume_child(args.device, args.images, args.state, args.metrics)


if __name__ == "__main__":
    main()
