"""The device-resident training path: batches made where the data lives, tallies kept on
the device, ``train.precision`` / ``train.compile``, and the step-timing entry point.

The oracle below is archopt's training loop as it was before batches moved to the
device: augmentation and normalization on the host per batch, every batch's loss and
hits read back to Python numbers at once. Kept here only, as the reference the new path
must reproduce bit for bit on the CPU.
"""

from __future__ import annotations

import logging

import pytest
import torch
import torch.nn.functional as F
from test_train import one_thread, synthetic_images  # noqa: F401 (one_thread: autouse)

from archopt.data import ImageSet
from archopt.datasets import get_dataset
from archopt.models import get_model
from archopt.train.checkpoint import CheckpointError
from archopt.train.jobs import evaluation_batches, training_batches
from archopt.train.layout import training_memory_format
from archopt.train.loop import RunSpec, TrainingRun, run_metrics, time_training_steps, train_run
from archopt.train.precision import autocast, check_settings, precision_in_effect
from archopt.train.schedule import PlateauSchedule

CPU = torch.device("cpu")
LOGGER = logging.getLogger("test_train_device")


TRAIN, VAL = synthetic_images(100, 1), synthetic_images(30, 2)  # 100 = 3 x 32 + a partial batch


# --- the oracle: the host-side loop as it was --------------------------------------------


def host_batches(data: ImageSet, batch_size: int, dataset: str, *, augment: bool, generator):
    registered = get_dataset(dataset)
    std = torch.tensor(registered.std).view(1, -1, 1, 1)
    mean = torch.tensor(registered.mean).view(1, -1, 1, 1)
    order = torch.randperm(len(data), generator=generator) if augment else None
    for start in range(0, len(data), batch_size):
        index = slice(start, start + batch_size) if order is None else order[start : start + batch_size]
        images = data.images[index]
        if augment:
            n = len(images)
            padded = F.pad(images, (4, 4, 4, 4))
            top = torch.randint(0, 9, (n, 1), generator=generator)
            left = torch.randint(0, 9, (n, 1), generator=generator)
            flip = torch.rand(n, 1, generator=generator) < 0.5
            columns = torch.arange(32).expand(n, 32)
            columns = torch.where(flip, columns.flip(1), columns) + left
            rows = torch.arange(32) + top
            index_2d = (rows[:, :, None] * 40 + columns[:, None, :]).view(n, 1, 1024)
            images = padded.view(n, 3, -1).gather(2, index_2d.expand(n, 3, 1024)).view(n, 3, 32, 32)
        yield images.float().mul_(1.0 / (255.0 * std)).sub_(mean / std), data.labels[index]


def host_tally(model, batches, memory_format) -> dict[str, float]:
    n, loss_sum, top1, top5 = 0, 0.0, 0, 0
    for images, labels in batches:
        logits = model(images.contiguous(memory_format=memory_format))
        loss = F.cross_entropy(logits, labels)
        yield logits, loss
        ranked = logits.detach().topk(5, dim=1).indices == labels.unsqueeze(1)
        n += labels.numel()
        loss_sum += float(loss.detach()) * labels.numel()
        top1 += int(ranked[:, :1].any(dim=1).sum())
        top5 += int(ranked.any(dim=1).sum())
    yield {"loss": loss_sum / n, "top1": 100.0 * top1 / n, "top5": 100.0 * top5 / n}


def oracle_history(spec: RunSpec) -> list[dict]:
    torch.manual_seed(spec.seed)
    model = get_model(spec.model, spec.dataset)
    memory_format = training_memory_format(model, CPU)
    model = model.to(memory_format=memory_format)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=spec.lr, momentum=spec.momentum, weight_decay=spec.weight_decay
    )
    schedule = PlateauSchedule(spec.lr)
    generator = torch.Generator().manual_seed(spec.seed)
    history = []
    for epoch in range(1, spec.max_epochs + 1):
        model.train()
        for group in optimizer.param_groups:
            group["lr"] = schedule.lr
        steps = host_tally(
            model, host_batches(TRAIN, spec.batch_size, spec.dataset, augment=True,
                                generator=generator), memory_format,
        )  # fmt: skip
        for item in steps:
            if isinstance(item, dict):
                train = item
                break
            optimizer.zero_grad(set_to_none=True)
            item[1].backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            *_, val = host_tally(
                model, host_batches(VAL, 500, spec.dataset, augment=False, generator=None),
                memory_format,
            )
        history.append({
            "epoch": epoch, "lr": schedule.lr, "train_loss": train["loss"],
            "train_top1": train["top1"], "val_loss": val["loss"], "val_top1": val["top1"],
            "val_top5": val["top5"],
        })  # fmt: skip
        schedule.step(train["loss"])
    return history


def spec(**changes) -> RunSpec:
    settings = dict(
        model="resnet20", dataset="cifar10", lr=0.05, batch_size=32, seed=3, max_epochs=2,
        momentum=0.9, weight_decay=5e-4, train_images=len(TRAIN), val_images=len(VAL),
    )  # fmt: skip
    return RunSpec(**{**settings, **changes})


def without_seconds(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in epoch.items() if k != "seconds"} for epoch in history]


@pytest.mark.parametrize("model", ["resnet20", "resnet20-2.67"])  # channels-last and NCHW
def test_device_resident_path_gives_bit_identical_metrics_on_the_cpu(model, tmp_path):
    run_spec = spec(model=model)
    run = train_run(
        run_spec,
        training_batches(TRAIN.to(CPU), run_spec.batch_size, "cifar10"),
        evaluation_batches(VAL.to(CPU), "cifar10"),
        tmp_path / "state.pt", CPU, LOGGER,
    )  # fmt: skip
    assert without_seconds(run.history) == oracle_history(run_spec)


# --- precision and compile ----------------------------------------------------------------


def test_metrics_record_the_precision_in_effect():
    metrics = run_metrics(TrainingRun(spec(), CPU))
    assert metrics["precision"] == "fp32" and metrics["compile"] is False
    assert metrics["tf32_conv"] is False and metrics["tf32_matmul"] is False
    assert metrics["compile_seconds"] is None


@pytest.mark.parametrize(
    "precision, compile_step, message",
    [
        ("bf16", False, r"'train.precision' is 'bf16', which needs a CUDA device.*runs on cpu"),
        ("tf32", False, r"'train.precision' is 'tf32', which needs a CUDA device"),
        ("fp16", False, r"'train.precision' is 'fp16'; expected one of \['fp32', 'tf32', 'bf16'\]"),
        ("fp32", True, r"'train.compile' is true, which needs a CUDA device.*compile: false"),
    ],
)
def test_gpu_only_settings_are_refused_on_the_cpu(precision, compile_step, message):
    with pytest.raises(ValueError, match=message):
        TrainingRun(spec(precision=precision, compile=compile_step), CPU)


def test_a_state_of_another_precision_is_refused(tmp_path):
    state = tmp_path / "state.pt"
    short = spec(max_epochs=1)
    train_run(short, training_batches(TRAIN, 32, "cifar10"), evaluation_batches(VAL, "cifar10"),
              state, CPU, LOGGER)
    # A CUDA-only precision cannot be trained here; the spec check comes first on resume,
    # so this is what a GPU job resuming a CPU fp32 state meets.
    saved = torch.load(state, weights_only=True)
    saved["spec"]["precision"] = "bf16"
    torch.save(saved, state)
    with pytest.raises(CheckpointError, match=r"another run \(precision: saved 'bf16', now 'fp32'\)"):
        train_run(short, training_batches(TRAIN, 32, "cifar10"),
                  evaluation_batches(VAL, "cifar10"), state, CPU, LOGGER)


def test_a_state_written_before_precision_existed_resumes_as_fp32(tmp_path):
    state = tmp_path / "state.pt"
    short = spec(max_epochs=1)
    train_run(short, training_batches(TRAIN, 32, "cifar10"), evaluation_batches(VAL, "cifar10"),
              state, CPU, LOGGER)
    saved = torch.load(state, weights_only=True)
    del saved["spec"]["precision"], saved["spec"]["compile"]  # as an older archopt wrote it
    torch.save(saved, state)
    run = train_run(short, training_batches(TRAIN, 32, "cifar10"),
                    evaluation_batches(VAL, "cifar10"), state, CPU, LOGGER)
    assert run.epoch == 1  # resumed (already finished), not refused as another run


def test_bf16_autocast_context_is_only_for_bf16():
    assert isinstance(autocast("bf16", CPU), torch.autocast)
    assert not isinstance(autocast("fp32", CPU), torch.autocast)
    check_settings("fp32", False, CPU)  # the CPU's own settings pass
    assert precision_in_effect(CPU) == {
        "tf32_conv": False, "tf32_matmul": False, "cudnn_benchmark": False,
    }  # fmt: skip


# --- the timing entry point ----------------------------------------------------------------


def test_time_training_steps_times_the_real_step():
    timing = time_training_steps("resnet20", 16, steps=2, device="cpu", warmup=1)
    assert timing.ms_per_step > 0 and timing.first_step_seconds > 0
    assert timing.images_per_second == pytest.approx(16 * 1000 / timing.ms_per_step)
    assert timing.peak_gpu_memory_bytes is None and timing.peak_host_rss_bytes > 0
    assert timing.as_dict()["precision"] == "fp32"


def test_time_training_steps_takes_the_datasets_image_shape():
    """Random images of the dataset's shape, not CIFAR's (3, 32, 32)."""
    from archopt.datasets import CLASSIFICATION, DATASETS, Dataset, register_dataset

    register_dataset(Dataset(
        name="grey20", title="Grey 20", kind=CLASSIFICATION, image_shape=(1, 20, 20),
        primary_metric="top1", train_images=100, test_images=20, url="http://127.0.0.1/x",
        md5=None, folder="grey20", reader="x:y", structure="x:y", num_classes=4,
        mean=(0.5,), std=(0.25,)))
    try:
        timing = time_training_steps("squeezenet", 8, steps=1, device="cpu", dataset="grey20",
                                     warmup=0)
    finally:
        DATASETS.remove("grey20")
    assert timing.ms_per_step > 0 and timing.images_per_second > 0


# --- on a CUDA machine ----------------------------------------------------------------------

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@needs_cuda
def test_batches_made_on_the_gpu_equal_the_cpus():
    from archopt.data import batches

    def epoch(data: ImageSet) -> list:
        generator = torch.Generator().manual_seed(7)
        return list(batches(data, 32, "cifar10", shuffle=True, augment=True, generator=generator))

    for (gpu_images, gpu_labels), (images, labels) in zip(epoch(TRAIN.to("cuda")), epoch(TRAIN)):
        assert gpu_images.is_cuda
        assert torch.equal(gpu_images.cpu(), images) and torch.equal(gpu_labels.cpu(), labels)


@needs_cuda
@pytest.mark.parametrize(
    "precision, compile_step", [("fp32", False), ("tf32", False), ("bf16", False), ("fp32", True)]
)
def test_gpu_settings_train_and_are_recorded(precision, compile_step):
    timing = time_training_steps("resnet20", 64, 3, "cuda", precision, compile_step, warmup=2)
    assert timing.ms_per_step > 0 and timing.peak_gpu_memory_bytes > 0
    metrics = run_metrics(TrainingRun(spec(precision=precision, compile=compile_step),
                                      torch.device("cuda")))
    assert metrics["precision"] == precision and metrics["compile"] is compile_step
    assert metrics["tf32_conv"] is metrics["tf32_matmul"] is (precision == "tf32")
    assert metrics["cudnn_benchmark"] is True
