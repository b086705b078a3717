"""What the device bundle carries: one typed object, built once from the config.

The ``device_bundle`` job gets it from :func:`archopt.workflow.start_job`
(:func:`job_device_settings`). The standalone runner in the bundle defaults to the bench
stage's protocol (:class:`archopt.bench.settings.BenchSettings`), so a device measures as
the study's own benchmarks do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from archopt.bench.settings import BenchSettings
from archopt.paths import bundle_image_counts, bundle_networks


@dataclass(frozen=True)
class DeviceSettings:
    """The networks and images of the bundle, and the protocol its runner defaults to."""

    # (dataset, network) of every deployable file: fp32 model names, then ``model+spec``.
    networks: tuple[tuple[str, str], ...]
    # dataset -> how many of its first test images (None: all of them), in bundle order.
    images: tuple[tuple[str, int | None], ...]
    bench: BenchSettings

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DeviceSettings:
        """The settings of a validated config (``bench.bundle`` aside: that says whether
        ``all`` writes the bundle at all)."""
        return cls(
            networks=tuple(bundle_networks(config)),
            images=tuple(bundle_image_counts(config).items()),
            bench=BenchSettings.from_config(config),
        )

    def protocol(self) -> dict[str, Any]:
        """The runner's defaults: the bench protocol (``warmup``, ``min_queries``,
        ``min_duration_s``, ``repeats``)."""
        return self.bench.protocol()


def job_device_settings(snakemake: Any) -> DeviceSettings:
    """The settings of the ``device_bundle`` job: the networks and image counts its rule
    passes as params, and the ``bench`` section with the protocol values it passes as
    ``params.bench`` laid over it."""
    params = snakemake.params
    bench = {**snakemake.config["bench"], **params.bench}
    return DeviceSettings(
        networks=tuple((dataset, network) for dataset, network in params.networks),
        images=tuple(dict(params.images).items()),
        bench=BenchSettings.from_config({**snakemake.config, "bench": bench}),
    )
