"""Where every artifact of the study lives, and what the config asks the workflow to make.

The planning layer: path templates and target functions the rules use, torch-free (the
workflow imports it while Snakemake parses; so do tests that reason about the DAG).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from archopt.datasets import PAIRED, dataset_names, get_dataset
from archopt.posttrain import SEPARATOR
from archopt.posttrain.targets import posttrain_dir, posttrain_results
from archopt.study import study_networks


def dataset_source(config: Mapping[str, Any], dataset: str) -> dict[str, Any]:
    """``{"url", "md5"}`` of a dataset: config key ``datasets.<name>`` where set (a mirror),
    else the registry's official source (a plugin dataset needs no config entry)."""
    official = get_dataset(dataset)
    return {"url": official.url, "md5": official.md5, **config.get("datasets", {}).get(dataset, {})}


# The generators train on the (first) paired-image dataset: pix2pix maps.
GAN_DATASET = dataset_names(PAIRED)[0]
GAN_DIR = f"results/gan/{GAN_DATASET}/{{model}}"
RUN_DIR = "results/train/{dataset}/{model}/lr~{lr}/bs~{bs}/seed~{seed}"


def format_lr(lr: float) -> str:
    """The learning rate as it appears in paths: ``0.1``, ``0.001``, ``1e-05``."""
    return f"{lr:g}"


def grid_run_files(
    dataset: str, model: str, train_config: Mapping[str, Any], name: str
) -> list[str]:
    """File ``name`` of every (lr, batch size, seed) run of the configured grid."""
    grid = train_config["grid"]
    return [
        f"{RUN_DIR}/{name}".format(dataset=dataset, model=model, lr=format_lr(lr), bs=bs, seed=seed)
        for lr in grid["lr"]
        for bs in grid["batch_size"]
        for seed in train_config["seeds"]
    ]


def summary_targets(config: Mapping[str, Any]) -> list[str]:
    """The selected-run summary of every network of every dataset of the study."""
    return [
        f"results/models/{dataset}/{model}/summary.json"
        for dataset in config["studies"]
        for model in study_networks(config, dataset)
    ]


# A generator's output is a 256x256 image (0.8 MB): the maps benchmark keeps every output
# of two runtimes for the comparison, so it times at most this many validation pairs.
MAPS_BENCH_IMAGES = 200


def is_paired(dataset: str) -> bool:
    """Whether ``dataset`` holds image pairs (the generators' data) rather than labels."""
    return get_dataset(dataset).kind == PAIRED


def benchmarked_datasets(config: Mapping[str, Any]) -> list[str]:
    """The study's classification datasets, and the generators' when there are any."""
    return [*config["studies"], *([GAN_DATASET] if config["gan"]["variants"] else [])]


def bench_targets(config: Mapping[str, Any]) -> list[str]:
    """Every bench JSON the config asks for: dataset x network x device."""
    datasets = benchmarked_datasets(config)
    return [
        f"results/bench/{dataset}/{model}/{device}.json"
        for dataset in datasets
        for model in study_networks(config, dataset)
        for device in config["bench"]["devices"]
    ]


def checkpoint_path(dataset: str, model: str) -> str:
    """The weights a benchmark loads: the selected classifier, or the trained generator."""
    if is_paired(dataset):
        return f"{GAN_DIR.format(model=model)}/generator.pt"
    return f"results/models/{dataset}/{model}/best.pt"


def maps_bench_count(config: Mapping[str, Any]) -> int:
    limits = [MAPS_BENCH_IMAGES, config["gan"]["val_subset"], config["bench"]["images"]]
    return min(limit for limit in limits if limit is not None)


# The config sections the report shows (its ``params``: a change reruns the report).
REPORT_SETTINGS = ("preset", "studies", "networks", "datasets", "train", "gan", "bench", "report")


def report_input_files(config: Mapping[str, Any], catalog_datasets: Sequence[str]
                       ) -> dict[str, str | list[str]]:
    """The report rule's inputs: every result the configured study produces, by kind."""
    studied = {dataset: study_networks(config, dataset) for dataset in config["studies"]}
    gans = study_networks(config, GAN_DATASET)
    benched = studied | ({GAN_DATASET: gans} if gans else {})  # generators are benchmarked too
    return {
        "paper": "resources/paper/thesis_tables.csv",
        "paper_notes": "resources/paper/param_counts.md",
        "catalogs": [f"results/models/{dataset}/catalog.csv" for dataset in catalog_datasets],
        "searches": [f"results/search/{dataset}.csv" for dataset in config["studies"]],
        "summaries": [f"results/models/{dataset}/{model}/summary.json"
                      for dataset, models in studied.items() for model in models],
        "bench": [f"results/bench/{dataset}/{model}/{device}.json"
                  for dataset, models in benched.items() for model in models
                  for device in [*config["bench"]["devices"], *external_devices(config)]],
        "gan_summaries": [f"{GAN_DIR.format(model=m)}/summary.json" for m in gans],
        "gan_samples": [f"{GAN_DIR.format(model=m)}/samples" for m in gans],
    }


# The target-device bundle (archopt.device) and where imported device results go.
DEVICE_BUNDLE = "results/device/bundle.zip"


def bundle_networks(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(dataset, network) of every deployable file the bundle carries: each benchmarked
    network's fp32 ``model.onnx``, then each post-training result (``model+spec``)."""
    fp32 = [(dataset, model) for dataset in benchmarked_datasets(config)
            for model in study_networks(config, dataset)]
    return fp32 + [(dataset, f"{model}{SEPARATOR}{spec}")
                   for dataset, model, spec in posttrain_results(config)]


def bundle_image_counts(config: Mapping[str, Any]) -> dict[str, int | None]:
    """dataset -> the images the bundle carries: the bench stage's (``bench.images``; for
    the generators' pairs at most :func:`maps_bench_count`), None = the whole test set."""
    datasets = dict.fromkeys(dataset for dataset, _ in bundle_networks(config))
    return {dataset: maps_bench_count(config) if is_paired(dataset) else config["bench"]["images"]
            for dataset in datasets}


def network_dir(dataset: str, network: str) -> str:
    """The folder of a network's deployable file: bench for fp32, posttrain for ``m+spec``."""
    if SEPARATOR in network:
        model, spec = network.split(SEPARATOR, 1)
        return posttrain_dir(dataset, model, spec)
    return f"results/bench/{dataset}/{network}"


def deployable_path(dataset: str, network: str) -> str:
    return f"{network_dir(dataset, network)}/model.onnx"


def device_result_path(dataset: str, network: str, device: str) -> str:
    """An imported device's results, next to the local devices' of the same file."""
    return f"{network_dir(dataset, network)}/{device}.json"


def external_devices(config: Mapping[str, Any]) -> dict[str, str]:
    """Config key ``bench.external_devices``: device name -> its results JSON."""
    return {entry["name"]: entry["results"]
            for entry in config["bench"].get("external_devices", [])}


def device_targets(config: Mapping[str, Any]) -> list[str]:
    """The bundle when ``bench.bundle`` is true, and every external device's imports."""
    bundle = [DEVICE_BUNDLE] if config["bench"].get("bundle", False) else []
    return bundle + [device_result_path(dataset, network, device)
                     for device in external_devices(config)
                     for dataset, network in bundle_networks(config)]
