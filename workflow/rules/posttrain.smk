# Post-training methods (archopt.posttrain: int8 quantization, pruning, plugins' own) on
# every selected network: results/posttrain/{dataset}/{model}+{method}/.
from archopt.posttrain.rules import (
    posttrain_compute_threads,
    posttrain_gpus,
    posttrain_runtime,
    posttrain_threads,
)
from archopt.paths import (
    POSTTRAIN_ARTIFACTS,
    POSTTRAIN_DIR,
    POSTTRAIN_FILES,
    posttrain_targets,
)

TARGET_FUNCTIONS.append(lambda: posttrain_targets(config))


rule posttrain:
    input:
        checkpoint=rules.select_best.output.checkpoint,
        summary=rules.select_best.output.summary,
        onnx=rules.onnx_export.output.onnx,
        data=lambda wildcards: dataset_marker(wildcards.dataset),
    output:
        summary=f"{POSTTRAIN_DIR}/{POSTTRAIN_FILES['summary']}",
        deployable=f"{POSTTRAIN_DIR}/{POSTTRAIN_FILES['deployable']}",
        bench=f"{POSTTRAIN_DIR}/{POSTTRAIN_FILES['bench']}",
        artifacts=directory(f"{POSTTRAIN_DIR}/{POSTTRAIN_ARTIFACTS}"),
    log:
        "logs/posttrain/{dataset}/{model}+{method}.log",
    wildcard_constraints:
        dataset=CLASSIFICATION_DATASET,
        model="[a-z0-9._-]+",
        method="[a-z][a-z0-9_]*(-[a-z0-9._]+)?",
    conda:
        "../../environment.yml"
    threads: lambda wildcards: posttrain_threads(config, workflow)
    resources:
        mem_mb=4000,
        runtime=lambda wildcards: posttrain_runtime(
            config, wildcards, posttrain_compute_threads(config)
        ),
        # Pruning fine-tunes on the GPU where there is one: it asks for it.
        gpu=lambda wildcards: posttrain_gpus(wildcards, TRAIN_USES_CUDA),
    params:
        # The job's PostTrainSettings (archopt.posttrain.settings) are built from these
        # three: a change reruns it. bench: what it times with, the bench stage's protocol.
        posttrain=config["posttrain"],
        bench=config_subset(
            "bench",
            "images",
            "threads",
            "warmup",
            "runtimes",
            "atol",
            "min_queries",
            "min_duration_s",
            "repeats",
        ),
        train=config_subset(
            "train",
            "val_size",
            "train_subset",
            "seeds",
            "momentum",
            "weight_decay",
            "threads",
        ),
    script:
        "../scripts/posttrain.py"
