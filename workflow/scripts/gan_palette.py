from archopt.gan.jobs import palette_job

palette_job(snakemake)  # noqa: F821 - injected by Snakemake
