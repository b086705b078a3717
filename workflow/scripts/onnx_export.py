from archopt.bench.jobs import export_job

export_job(snakemake)  # noqa: F821 - injected by Snakemake
