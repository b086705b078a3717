from archopt.data.jobs import download_job

download_job(snakemake)  # noqa: F821 - injected by Snakemake
