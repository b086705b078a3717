# Single-image latency of every selected network, eager PyTorch vs ONNX Runtime, per
# device (archopt.bench). model.onnx is the deployable export the CPU benchmark times.
from archopt.bench.jobs import bench_targets

TARGET_FUNCTIONS.append(lambda: bench_targets(config))


rule onnx_export:
    input:
        checkpoint="results/models/{dataset}/{model}/best.pt",
    output:
        onnx="results/bench/{dataset}/{model}/model.onnx",
    log:
        "logs/onnx_export/{dataset}/{model}.log",
    wildcard_constraints:
        dataset="cifar10|cifar100",
        model="[a-z0-9._-]+",
    conda:
        "../../environment.yml"
    threads: config["bench"]["threads"]
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        warmup=config["bench"]["warmup"],
    script:
        "../scripts/onnx_export.py"


rule bench:
    input:
        checkpoint="results/models/{dataset}/{model}/best.pt",
        onnx="results/bench/{dataset}/{model}/model.onnx",
        data=lambda wildcards: dataset_marker(wildcards.dataset),
    output:
        json="results/bench/{dataset}/{model}/{device}.json",
    log:
        "logs/bench/{dataset}/{model}/{device}.log",
    wildcard_constraints:
        dataset="cifar10|cifar100",
        model="[a-z0-9._-]+",
        device="cpu|cuda",
    conda:
        "../../environment.yml"
    threads: config["bench"]["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=lambda wildcards: int(wildcards.device == "cuda"),
    params:
        images=config["bench"]["images"],
        warmup=config["bench"]["warmup"],
        runtimes=config["bench"]["runtimes"],
        atol=config["bench"]["atol"],
    script:
        "../scripts/bench.py"
