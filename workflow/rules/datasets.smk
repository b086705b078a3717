# Dataset downloads: one rule per dataset (download_cifar10, download_cifar100,
# download_maps), each writing resources/<name>/manifest.json and then, last, its
# output: the marker resources/<name>/download.json. Snakemake deletes a failed job's
# outputs, so a failed re-download (a changed MD5) removes only the marker, never the
# manifest of the dataset kept in place.
# Rules needing a dataset take dataset_marker(name) as input.
from archopt.datasets import dataset_names
from archopt.paths import dataset_marker, dataset_source

for _dataset in dataset_names():

    rule:
        name:
            f"download_{_dataset}"
        output:
            dataset_marker(_dataset),
        log:
            f"logs/download/{_dataset}.log",
        retries: 2
        localrule: True
        conda:
            "../../environment.yml"
        threads: 1
        resources:
            mem_mb=1000,
            runtime=120,
        params:
            dataset=_dataset,
            # Only the MD5 is a param: it identifies the data, so changing it reruns the
            # download, while switching to a mirror (a new url) does not.
            md5=dataset_source(config, _dataset)["md5"],
        script:
            "../scripts/download.py"


def dataset_targets():
    return [dataset_marker(name) for name in catalog_datasets()]


TARGET_FUNCTIONS.append(dataset_targets)
