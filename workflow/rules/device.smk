# Benchmark on the target device (archopt.device): results/device/bundle.zip carries every
# deployable network, the benchmark images and the standalone runner run_bench.py; the
# results of each device in bench.external_devices are imported next to the local ones.
import re

from archopt.bench.settings import PROTOCOL_KEYS
from archopt.paths import (
    DEVICE_BUNDLE,
    DEVICE_RESULT,
    bundle_image_counts,
    bundle_networks,
    deployable_path,
    device_targets,
    external_devices,
)

TARGET_FUNCTIONS.append(lambda: device_targets(config))


rule device_bundle:
    input:
        models=[deployable_path(*network) for network in bundle_networks(config)],
        data=[dataset_marker(dataset) for dataset in bundle_image_counts(config)],
    output:
        bundle=DEVICE_BUNDLE,
    log:
        "logs/device/bundle.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=15,
    params:
        networks=bundle_networks(config),
        images=bundle_image_counts(config),
        # The runner's defaults: the bench protocol.
        bench=config_subset("bench", *PROTOCOL_KEYS),
    script:
        "../scripts/device_bundle.py"


rule device_import:
    input:
        results=lambda wildcards: external_devices(config)[wildcards.device],
        model=lambda wildcards: deployable_path(wildcards.dataset, wildcards.network),
    output:
        json=DEVICE_RESULT,
    log:
        "logs/device/import/{device}/{stage}/{dataset}/{network}.log",
    wildcard_constraints:
        stage="bench|posttrain",
        network="[a-z0-9._+-]+",
        # Only the configured names: never the local devices' files (cpu, cuda).
        device="|".join(map(re.escape, external_devices(config))) or "(?!)",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/device_import.py"
