"""archopt.train: accuracy and Wilson intervals, checkpoints, the resumable loop, selection."""

from __future__ import annotations

import logging
import math

import pytest
import torch

from archopt.data import ImageSet
from archopt.models import count_params, get_model
from archopt.paths import format_lr, grid_run_files
from archopt.train import CheckpointError, load_weights, topk_correct, wilson_interval
from archopt.train.checkpoint import save_checkpoint
from archopt.train.jobs import evaluation_batches, training_batches
from archopt.train.loop import RunSpec, TrainingRun, run_metrics, train_run
from archopt.train.metrics import RunningTally, Tally
from archopt.train.resources import job_runtime_minutes, train_mem_mb, train_runtime_minutes
from archopt.train.select import build_summary, read_metrics, select_run

LOGGER = logging.getLogger("test_train")
SUMMARY_KEYS = (  # the contract other stages read
    "model", "dataset", "test_top1", "test_top5", "test_top1_ci95", "test_top5_ci95", "params",
    "lr", "batch_size", "seed", "val_top1", "val_top5", "epochs", "storage_bytes",
    "train_seconds", "device", "grid",
)  # fmt: skip
CPU = torch.device("cpu")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One thread: on a busy 2-core box, two threads per training run are ~5x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def synthetic_images(n: int, seed: int) -> ImageSet:
    """Class-coloured noisy 32x32 images: learnable in a few epochs."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    colours = torch.linspace(30, 220, 10)[:, None].repeat(1, 3) + torch.tensor([0.0, 40.0, -40.0])
    pixels = colours[labels][:, :, None, None] + 25 * torch.randn(n, 3, 32, 32, generator=generator)
    return ImageSet(pixels.clamp(0, 255).to(torch.uint8), labels)


TRAIN, VAL = synthetic_images(96, 1), synthetic_images(40, 2)


def spec(**changes) -> RunSpec:
    settings = dict(
        model="resnet20", dataset="cifar10", lr=0.05, batch_size=32, seed=0, max_epochs=3,
        momentum=0.9, weight_decay=5e-4, train_images=len(TRAIN), val_images=len(VAL),
    )  # fmt: skip
    return RunSpec(**{**settings, **changes})


def train(run_spec: RunSpec, state_path, source=None, restart: bool = False) -> TrainingRun:
    return train_run(
        run_spec,
        source or training_batches(TRAIN, run_spec.batch_size, "cifar10"),
        evaluation_batches(VAL, "cifar10"),
        state_path,
        CPU,
        LOGGER,
        restart=restart,
    )


def deterministic(metrics: dict) -> dict:
    """metrics.json without the wall-clock fields."""
    history = [{k: v for k, v in epoch.items() if k != "seconds"} for epoch in metrics["history"]]
    return {**{k: v for k, v in metrics.items() if k != "train_seconds"}, "history": history}


# --- metrics ---------------------------------------------------------------------------


def test_topk_counts_label_among_highest_logits():
    logits = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.3], [0.2, 0.3, 0.5]])
    labels = torch.tensor([1, 2, 0])
    assert topk_correct(logits, labels, ks=(1, 2, 5)) == [1, 2, 3]


def test_wilson_interval_matches_textbook_values():
    low, high = wilson_interval(50, 100)
    assert (round(low, 4), round(high, 4)) == (0.4038, 0.5962)
    assert wilson_interval(0, 20)[0] == 0.0 and 0.1 < wilson_interval(0, 20)[1] < 0.2
    assert wilson_interval(20, 20)[1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="11 successes out of 10"):
        wilson_interval(11, 10)


def test_tally_averages_loss_over_images_not_batches():
    running = RunningTally()
    running.add(torch.eye(3), torch.tensor([0, 1, 2]), torch.tensor(1.0))
    running.add(torch.eye(3)[:1], torch.tensor([2]), torch.tensor(5.0))
    tally = running.result()
    assert tally.loss == pytest.approx(2.0)
    assert tally.top1 == pytest.approx(75.0) and tally.top5 == 100.0


# --- checkpoints -----------------------------------------------------------------------


def test_load_weights_round_trip(tmp_path):
    model = get_model("resnet20-shift", "cifar100")
    path = tmp_path / "best.pt"
    save_checkpoint(path, "resnet20-shift", "cifar100", model.state_dict(), epoch=4, val_top1=12.5)
    loaded = load_weights(path, "ResNet20-Shift", "cifar100")
    assert not loaded.training and count_params(loaded) == count_params(model)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)


def test_checkpoint_of_another_model_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "best.pt"
    save_checkpoint(path, "resnet20", "cifar10", get_model("resnet20").state_dict(), 1, 10.0)
    with pytest.raises(CheckpointError, match=rf"{path}.*'resnet20'.*not 'resnet56'"):
        load_weights(path, "resnet56")
    with pytest.raises(CheckpointError, match=rf"{path}.*not on cifar100"):
        load_weights(path, dataset="cifar100")


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "does not exist"),
        (b"not a torch file", "is corrupt"),
        (b"PK\x03\x04trunc", "is corrupt"),
    ],
)
def test_missing_or_corrupt_checkpoint_names_the_file(tmp_path, content, message):
    path = tmp_path / "best.pt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=rf"checkpoint {path} {message}"):
        load_weights(path)


def test_checkpoint_without_the_contract_keys_is_refused(tmp_path):
    path = tmp_path / "best.pt"
    torch.save(get_model("resnet20").state_dict(), path)  # a bare state_dict
    with pytest.raises(CheckpointError, match=rf"{path} lacks the keys"):
        load_weights(path)


# --- the loop and resume ---------------------------------------------------------------


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    state = tmp_path_factory.mktemp("whole") / "state.pt"
    return train(spec(), state), state


def test_run_records_history_best_epoch_and_stops_at_max_epochs(uninterrupted):
    run, state = uninterrupted
    metrics = run_metrics(run)
    assert [h["epoch"] for h in metrics["history"]] == [1, 2, 3]
    assert metrics["stop_reason"] == "max_epochs" and metrics["device"] == "cpu"
    best = max(metrics["history"], key=lambda h: h["val_top1"])
    assert metrics["val_top1"] == best["val_top1"] and metrics["best_epoch"] == best["epoch"]
    assert metrics["history"][-1]["train_loss"] < metrics["history"][0]["train_loss"]
    assert state.is_file()


def interrupt_after(batches_before_kill: int, run_spec: RunSpec):
    """A batch source that dies part-way, like a job killed mid-epoch."""
    served = 0

    def source(generator):
        nonlocal served
        for batch in training_batches(TRAIN, run_spec.batch_size, "cifar10")(generator):
            if served == batches_before_kill:
                raise KeyboardInterrupt("killed")
            served += 1
            yield batch

    return source


def test_resume_after_interruption_gives_identical_metrics_and_weights(uninterrupted, tmp_path):
    whole, _ = uninterrupted
    state = tmp_path / "state.pt"
    with pytest.raises(KeyboardInterrupt):
        train(spec(), state, source=interrupt_after(4, spec()))  # 3 batches/epoch: dies in epoch 2
    assert len(torch.load(state, weights_only=True)["history"]) == 1
    resumed = train(spec(), state)
    assert deterministic(run_metrics(resumed)) == deterministic(run_metrics(whole))
    for key, value in whole.best.state_dict.items():
        assert torch.equal(resumed.best.state_dict[key], value), key


def test_finished_state_is_not_trained_again(uninterrupted):
    whole, state = uninterrupted
    again = train(spec(), state)
    assert run_metrics(again) == run_metrics(whole)


def test_state_of_another_run_is_refused_naming_the_difference(uninterrupted):
    _, state = uninterrupted
    with pytest.raises(
        CheckpointError,
        match=rf"{state} belongs to another run \(lr: saved 0.05, now 0.1\).*restart",
    ):
        train(spec(lr=0.1), state)


def test_corrupt_state_names_the_file_and_restart_starts_afresh(tmp_path):
    state = tmp_path / "state.pt"
    state.write_bytes(b"\x00" * 64)
    short = spec(max_epochs=1)
    with pytest.raises(
        CheckpointError,
        match=rf"resume state {state} is corrupt.*delete {state}, or set train.restart: true",
    ):
        train(short, state)
    run = train(short, state, restart=True)
    assert run.epoch == 1 and torch.load(state, weights_only=True)["history"] == run.history


def test_a_diverging_run_stops():
    run = TrainingRun(spec(), CPU)
    run.record_epoch(Tally(4, math.nan, 1, 2), Tally(4, 1.0, 1, 2), seconds=1.0)
    assert run.stop_reason == "diverged"


# --- selection, paths, resources ------------------------------------------------------


def grid_metrics(val: list[tuple[float, float]]) -> list[dict]:
    return [
        {"model": "resnet20", "dataset": "cifar10", "lr": 0.1 / 10**i, "batch_size": 128, "seed": 0,
         "val_top1": top1, "val_top5": top5, "epochs": 5, "train_seconds": 1.0, "best_epoch": 3,
         "stop_reason": "max_epochs", "device": "cpu", "gpu_name": None}
        for i, (top1, top5) in enumerate(val)
    ]  # fmt: skip


def test_selection_uses_validation_top1_then_top5_then_grid_order():
    assert select_run(grid_metrics([(50, 90), (60, 80), (40, 99)])) == 1
    assert select_run(grid_metrics([(60, 80), (60, 85)])) == 1
    assert select_run(grid_metrics([(60, 85), (60, 85)])) == 0


def test_summary_has_the_contract_keys_and_wilson_intervals():
    runs = grid_metrics([(50, 90), (60, 80)])
    summary = build_summary(
        runs, 1, Tally(1000, 900.0, 450, 900), params=272762, storage_bytes=1234
    )
    assert set(SUMMARY_KEYS) <= set(summary)
    assert summary["lr"] == runs[1]["lr"] and summary["test_top1"] == 45.0
    low, high = summary["test_top1_ci95"]
    assert 41.9 < low < 45.0 < high < 48.1
    assert [row["lr"] for row in summary["grid"]] == [0.1, 0.01]


def test_summary_records_the_selected_runs_precision():
    runs = grid_metrics([(50, 90), (60, 80)])
    runs[1] |= {"precision": "tf32", "tf32_conv": True, "tf32_matmul": True}
    summary = build_summary(runs, 1, Tally(10, 9.0, 4, 9), params=1, storage_bytes=1)
    assert (summary["precision"], summary["tf32"]) == ("tf32", True)
    older = build_summary(runs, 0, Tally(10, 9.0, 4, 9), params=1, storage_bytes=1)
    assert (older["precision"], older["tf32"]) == ("fp32", False)  # before train.precision


def test_unreadable_metrics_name_the_file(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text('{"model": "resnet20"}')
    with pytest.raises(ValueError, match=rf"{path}: metrics.json lacks the keys"):
        read_metrics(path)


def test_grid_paths_use_the_short_lr_form():
    config = {"grid": {"lr": [0.1, 0.001, 1e-5], "batch_size": [128]}, "seeds": [0, 1]}
    files = grid_run_files("cifar10", "resnet20", config, "best.pt")
    assert (
        len(files) == 6
        and files[0] == "results/train/cifar10/resnet20/lr~0.1/bs~128/seed~0/best.pt"
    )
    assert format_lr(1e-5) == "1e-05" and float(format_lr(0.001)) == 0.001


def test_resource_estimates_grow_with_the_network_and_the_batch():
    widened = "resnet110-shuffle-0.25"  # where the activations outgrow the CUDA runtime's floor
    assert train_mem_mb(widened, "cifar10", 256) > train_mem_mb(widened, "cifar10", 128)
    assert train_mem_mb("resnet110-shuffle-0.25", "cifar10", 256) > 10_000
    cpu = train_runtime_minutes("resnet110", "cifar10", 50_000, 200, threads=4, cuda=False)
    small = train_runtime_minutes("resnet20", "cifar10", 50_000, 200, threads=4, cuda=False)
    assert cpu > small > train_runtime_minutes("resnet20", "cifar10", 50_000, 200, 4, cuda=True)
    paper = {"val_size": 5000, "train_subset": None, "max_epochs": 200}
    assert job_runtime_minutes(paper, "resnet20", "cifar10", 4, cuda=False) == small


# --- broken files are named, whatever the failure ----------------------------------------


@pytest.mark.parametrize("what", ["checkpoint", "resume state"])
def test_an_empty_file_is_named_as_corrupt(tmp_path, what):
    path = tmp_path / "empty.pt"
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match=rf"{path} is corrupt.*\(EOFError"):
        if what == "checkpoint":
            load_weights(path)
        else:
            train(spec(max_epochs=1), path)


def test_a_resume_state_whose_weights_do_not_fit_names_the_file(tmp_path, uninterrupted):
    _, whole = uninterrupted
    state = torch.load(whole, weights_only=True)
    state["model"] = get_model("resnet56").state_dict()  # same spec, other weights
    path = tmp_path / "state.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=rf"resume state {path} does not fit.*restart"):
        train(spec(), path)


def test_a_state_of_another_format_version_is_refused(tmp_path, uninterrupted):
    _, whole = uninterrupted
    state = torch.load(whole, weights_only=True)
    assert state["version"] == 2 and set(state["rng"]) == {"torch", "cuda", "data"}
    state["version"] = 1  # written before the shared engine (archopt.train.resume)
    path = tmp_path / "state.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=rf"{path} has version 1, this archopt writes 2"):
        train(spec(), path)
