"""Glue for ``workflow/scripts/download.py``: unpack the ``snakemake`` object, download."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from archopt.data.archive import ArchiveError
from archopt.data.download import DownloadError, download_dataset
from archopt.data.manifest import write_marker
from archopt.data.structure import StructureError
from archopt.paths import dataset_source
from archopt.workflow import start_job


def download_job(snakemake: Any) -> None:
    """Download the rule's dataset into the folder of its ``download.json`` output, the
    marker written after ``manifest.json`` (see :mod:`archopt.data.manifest`).

    The URL is read from the config rather than from ``params`` so that pointing at a
    mirror of the same archive (same MD5) does not make Snakemake download it again.
    A failure leaves the dataset in place, manifest included; Snakemake removes the marker.
    """
    dataset = snakemake.params.dataset
    logger = start_job(snakemake, f"download.{dataset}").logger
    url = dataset_source(snakemake.config, dataset)["url"]
    dataset_dir = Path(snakemake.output[0]).parent
    try:
        manifest = download_dataset(dataset, dataset_dir, url, snakemake.params.md5, logger)
    except (DownloadError, ArchiveError, StructureError) as error:
        logger.error("%s", error)
        raise SystemExit(1) from None
    write_marker(dataset_dir, manifest)
