# Training (archopt.train): one job per grid point (dataset, model, lr, batch size, seed);
# select_best keeps the run with the best validation top-1 and tests it once.
from archopt.gpu import driver_gpu_count
from archopt.paths import (
    RUN_DIR,
    SELECTED_CHECKPOINT,
    SELECTED_SUMMARY,
    grid_run_files,
    summary_targets,
)
from archopt.train.resources import gpu_mem_mb, job_runtime_minutes, train_mem_mb
from archopt.train.settings import TRAIN_RULE_PARAMS

# Decided when the workflow is parsed: the jobs run on this host (or hosts like it).
TRAIN_USES_CUDA = driver_gpu_count() > 0

TARGET_FUNCTIONS.append(lambda: summary_targets(config))


rule train:
    input:
        data=training_data,
    output:
        metrics=f"{RUN_DIR}/metrics.json",
        checkpoint=f"{RUN_DIR}/best.pt",
    log:
        "logs/train/{dataset}/{model}/lr~{lr}/bs~{bs}/seed~{seed}.log",
    wildcard_constraints:
        dataset=CLASSIFICATION_DATASET,
        model="[a-z0-9._-]+",
        lr="[0-9][0-9.e+-]*",
        bs="[0-9]+",
        seed="[0-9]+",
    conda:
        "../../environment.yml"
    threads: config["train"]["threads"]
    resources:
        mem_mb=lambda wildcards: train_mem_mb(
            wildcards.model, wildcards.dataset, int(wildcards.bs)
        ),
        runtime=lambda wildcards, threads: job_runtime_minutes(
            config["train"],
            wildcards.model,
            wildcards.dataset,
            threads,
            TRAIN_USES_CUDA,
        ),
        gpu=int(TRAIN_USES_CUDA),
        # GPU memory one run needs: a resource to map (a SLURM constraint) or to pack runs
        # locally (--resources gpu_mem_mb=...); checked against known GPUs (archopt.cluster).
        gpu_mem_mb=lambda wildcards: gpu_mem_mb(
            wildcards.model,
            wildcards.dataset,
            int(wildcards.bs),
            config["train"]["precision"],
        ),
    # What the job computes with (archopt.train.settings.TrainSettings): a change reruns it.
    params:
        **config_subset("train", *TRAIN_RULE_PARAMS),
    script:
        "../scripts/train.py"


rule select_best:
    input:
        metrics=lambda wildcards: grid_run_files(
            wildcards.dataset, wildcards.model, config["train"], "metrics.json"
        ),
        checkpoints=lambda wildcards: grid_run_files(
            wildcards.dataset, wildcards.model, config["train"], "best.pt"
        ),
        data=lambda wildcards: dataset_marker(wildcards.dataset),
    output:
        summary=SELECTED_SUMMARY,
        checkpoint=SELECTED_CHECKPOINT,
    log:
        "logs/select_best/{dataset}/{model}.log",
    wildcard_constraints:
        dataset=CLASSIFICATION_DATASET,
        model="[a-z0-9._-]+",
    conda:
        "../../environment.yml"
    threads: config["train"]["threads"]
    # The CPU: one evaluation of the test set takes a minute there, and a GPU per job
    # would add up to a multi-GPU request in the SLURM profile's group of short jobs.
    resources:
        mem_mb=4000,
        runtime=30,
        gpu=0,
    script:
        "../scripts/select_best.py"
