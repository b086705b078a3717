# Config resolution and validation, wildcard constraints, helpers shared by all rules.
import sys

import yaml

from archopt.cluster import check_slurm_requests
from archopt.config import load_config_mapping
from archopt.datasets import CLASSIFICATION, wildcard_pattern
from archopt.data.sizes import check_training_split
from archopt.gpu import driver_gpu_count
from archopt.paths import GAN_DATASET, is_paired
from archopt.plan import plan_table, study_plan
from archopt.study import study_networks


def _resolved_config():
    with open(workflow.source_path("../../config.yaml")) as handle:
        base = yaml.safe_load(handle) or {}
    return load_config_mapping(
        base,
        workflow.config_settings.overwrite_config,
        workflow.source_path("../schemas/config.schema.yaml"),
    )


_final_config = _resolved_config()
config.clear()
config.update(_final_config)


# With the SLURM executor, stop before submitting a job no node could ever start (it
# would stay PENDING and Snakemake would wait for it forever).
onstart:
    check_slurm_requests(workflow)


# After the config (and so its plugins) is loaded: plugin datasets match too.
ANY_DATASET = wildcard_pattern()
CLASSIFICATION_DATASET = wildcard_pattern(CLASSIFICATION)


wildcard_constraints:
    dataset=ANY_DATASET,


# Each rules/*.smk file appends a function returning its final targets; `rule all`
# requests the union, so adding a stage never touches the Snakefile's `all`.
TARGET_FUNCTIONS = []


def all_targets():
    return [target for targets in TARGET_FUNCTIONS for target in targets()]


def print_study_plan():
    # Only where a user is looking: not in jobs that re-parse the Snakefile.
    if workflow.is_main_process:
        cuda = driver_gpu_count() > 0
        stages = study_plan(config)
        print(plan_table(stages, cuda), file=sys.stderr)


def config_subset(section, *keys):
    # A job's settings as params: changing one of them reruns exactly the jobs using it.
    return {key: config[section][key] for key in keys}


def training_data(wildcards):
    # The train rule's input: evaluated when a training job is planned (dry runs too), so
    # an impossible split stops the plan naming the key, not the job after the download.
    check_training_split(config["train"], wildcards.dataset)
    return dataset_marker(wildcards.dataset)


def catalog_datasets():
    datasets = list(config["studies"])
    if config["gan"]["variants"]:
        datasets.append(GAN_DATASET)
    return datasets
