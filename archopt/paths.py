"""Where every artifact of the study lives, and what the config asks the workflow to make.

The planning layer: path templates and target functions the rules use, torch-free (the
workflow imports it while Snakemake parses; so do tests that reason about the DAG).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from archopt.data.manifest import DOWNLOAD_MARKER
from archopt.datasets import PAIRED, dataset_names, get_dataset
from archopt.posttrain import SEPARATOR, get_posttrain_method
from archopt.study import study_networks


def dataset_source(config: Mapping[str, Any], dataset: str) -> dict[str, Any]:
    """``{"url", "md5"}`` of a dataset: config key ``datasets.<name>`` where set (a mirror),
    else the registry's official source (a plugin dataset needs no config entry)."""
    official = get_dataset(dataset)
    return {"url": official.url, "md5": official.md5, **config.get("datasets", {}).get(dataset, {})}


# The generators train on the (first) paired-image dataset: pix2pix maps.
GAN_DATASET = dataset_names(PAIRED)[0]

# Every artifact's path template ({...} are Snakemake wildcards). Rules name these (or
# ``rules.X.output`` of the rule that makes a file); jobs and the report take paths from
# their inputs, never from here.
# What a dataset's download job writes last, next to its manifest: the input of every
# job reading the dataset (its grandparent is the resources root).
DATASET_MARKER = f"resources/{{dataset}}/{DOWNLOAD_MARKER}"
PAPER_PARAM_COUNTS = "resources/paper/param_counts.csv"
PAPER_TABLES = "resources/paper/thesis_tables.csv"
PAPER_NOTES = "resources/paper/param_counts.md"
CATALOG = "results/models/{dataset}/catalog.csv"
SEARCH_TABLE = "results/search/{dataset}.csv"
RUN_DIR = "results/train/{dataset}/{model}/lr~{lr}/bs~{bs}/seed~{seed}"
SELECTED_DIR = "results/models/{dataset}/{model}"  # the grid's selected run of a network
SELECTED_SUMMARY = f"{SELECTED_DIR}/summary.json"
SELECTED_CHECKPOINT = f"{SELECTED_DIR}/best.pt"
BENCH_DIR = "results/bench/{dataset}/{model}"
ONNX_EXPORT = f"{BENCH_DIR}/model.onnx"  # the deployable fp32 network
BENCH_RESULT = f"{BENCH_DIR}/{{device}}.json"
GAN_DIR = f"results/gan/{GAN_DATASET}/{{model}}"
GAN_CHECKPOINT = f"{GAN_DIR}/generator.pt"
GAN_SUMMARY = f"{GAN_DIR}/summary.json"
GAN_SAMPLES = f"{GAN_DIR}/samples"
GAN_PALETTE = f"results/gan/{GAN_DATASET}/palette.json"
STUDY_BUNDLE = "results/study/bundle"  # what `archopt study serve` shows volunteers
STUDY_RESULTS = "results/study/results.csv"  # what `archopt study export` writes
REPORT_DIR = "results/report"
DEVICE_BUNDLE = "results/device/bundle.zip"
POSTTRAIN_DIR = f"results/posttrain/{{dataset}}/{{model}}{SEPARATOR}{{method}}"
# What every post-training job writes in its folder; ``artifacts/`` holds the method's
# own files (int8: every recipe and the runtimes' logits; prune: the weights).
POSTTRAIN_FILES = {"summary": "summary.json", "deployable": "model.onnx", "bench": "cpu.json"}
POSTTRAIN_ARTIFACTS = "artifacts"
# An imported device's results: stage "bench" (fp32) or "posttrain" (network = m+spec).
DEVICE_RESULT = "results/{stage}/{dataset}/{network}/{device}.json"


def posttrain_results(config: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(dataset, model, spec) of every post-training result the config asks for."""
    methods = config.get("posttrain", {}).get("methods", [])
    return [(dataset, model, spec)
            for dataset in config["studies"]
            for model in study_networks(config, dataset)
            for name in methods
            for spec in get_posttrain_method(name).variants(model, dataset, config)]


def posttrain_dir(dataset: str, model: str, spec: str) -> str:
    return POSTTRAIN_DIR.format(dataset=dataset, model=model, method=spec)


def posttrain_targets(config: Mapping[str, Any], files: tuple[str, ...] = ("summary", "bench")
                      ) -> list[str]:
    """The listed files (keys of :data:`POSTTRAIN_FILES`) of every post-training result."""
    return [f"{posttrain_dir(*result)}/{POSTTRAIN_FILES[key]}"
            for result in posttrain_results(config) for key in files]


def dataset_marker(dataset: str) -> str:
    return DATASET_MARKER.format(dataset=dataset)


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
        SELECTED_SUMMARY.format(dataset=dataset, model=model)
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
        BENCH_RESULT.format(dataset=dataset, model=model, device=device)
        for dataset in datasets
        for model in study_networks(config, dataset)
        for device in config["bench"]["devices"]
    ]


def checkpoint_path(dataset: str, model: str) -> str:
    """The weights a benchmark loads: the selected classifier, or the trained generator."""
    if is_paired(dataset):
        return GAN_CHECKPOINT.format(model=model)
    return SELECTED_CHECKPOINT.format(dataset=dataset, model=model)


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
        "paper": PAPER_TABLES,
        "paper_notes": PAPER_NOTES,
        "catalogs": [CATALOG.format(dataset=dataset) for dataset in catalog_datasets],
        "searches": [SEARCH_TABLE.format(dataset=dataset) for dataset in config["studies"]],
        "summaries": [SELECTED_SUMMARY.format(dataset=dataset, model=model)
                      for dataset, models in studied.items() for model in models],
        "bench": [BENCH_RESULT.format(dataset=dataset, model=model, device=device)
                  for dataset, models in benched.items() for model in models
                  for device in [*config["bench"]["devices"], *external_devices(config)]],
        "gan_summaries": [GAN_SUMMARY.format(model=m) for m in gans],
        "gan_samples": [GAN_SAMPLES.format(model=m) for m in gans],
    }


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
    return BENCH_DIR.format(dataset=dataset, model=network)


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


def posttrain_device_targets(config: Mapping[str, Any]) -> list[str]:
    """Every external device's imported results of every post-training result (``m+spec``),
    beside the post-training stage's own ``cpu.json``: the report's post-training inputs."""
    return [device_result_path(dataset, f"{model}{SEPARATOR}{spec}", device)
            for device in external_devices(config)
            for dataset, model, spec in posttrain_results(config)]
