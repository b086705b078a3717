# Single-image latency of every selected network in each runtime of bench.runtimes
# (archopt.runtimes), per device (archopt.bench). model.onnx is the deployable export.
from archopt.exclusive import timing_job_threads
from archopt.paths import (
    BENCH_RESULT,
    ONNX_EXPORT,
    bench_targets,
    checkpoint_path,
    maps_bench_count,
)

TARGET_FUNCTIONS.append(lambda: bench_targets(config))


rule onnx_export:
    input:
        checkpoint=lambda wildcards: checkpoint_path(wildcards.dataset, wildcards.model),
    output:
        onnx=ONNX_EXPORT,
    log:
        "logs/onnx_export/{dataset}/{model}.log",
    wildcard_constraints:
        dataset=ANY_DATASET,
        model="[a-z0-9._-]+",
    conda:
        "../../environment.yml"
    threads: config["bench"]["threads"]
    resources:
        mem_mb=lambda wildcards: 8000 if is_paired(wildcards.dataset) else 2000,
        runtime=10,
    params:
        warmup=config["bench"]["warmup"],
    script:
        "../scripts/onnx_export.py"


rule bench:
    input:
        checkpoint=lambda wildcards: checkpoint_path(wildcards.dataset, wildcards.model),
        onnx=rules.onnx_export.output.onnx,
        data=lambda wildcards: dataset_marker(wildcards.dataset),
    output:
        json=BENCH_RESULT,
    log:
        "logs/bench/{dataset}/{model}/{device}.log",
    wildcard_constraints:
        dataset=ANY_DATASET,
        model="[a-z0-9._-]+",
        device="cpu|cuda",
    conda:
        "../../environment.yml"
    # Every core of a local workflow, so that no other job runs beside the timing
    # (archopt.exclusive); its runtimes use bench.threads.
    threads: lambda wildcards: timing_job_threads(config, workflow)
    resources:
        mem_mb=lambda wildcards: 8000 if is_paired(wildcards.dataset) else 4000,
        runtime=60,
        gpu=lambda wildcards: int(wildcards.device == "cuda"),
    params:
        images=lambda wildcards: (
            maps_bench_count(config)
            if is_paired(wildcards.dataset)
            else config["bench"]["images"]
        ),
        # What the job times with (archopt.bench.settings.job_bench_settings): a change
        # reruns it.
        bench=config_subset(
            "bench",
            "threads",
            "warmup",
            "runtimes",
            "atol",
            "min_queries",
            "min_duration_s",
            "repeats",
        ),
    script:
        "../scripts/bench.py"
