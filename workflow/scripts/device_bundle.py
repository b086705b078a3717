from archopt.device.jobs import bundle_job

bundle_job(snakemake)  # noqa: F821 - injected by Snakemake
