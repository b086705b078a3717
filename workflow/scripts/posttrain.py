from archopt.posttrain.jobs import posttrain_job

posttrain_job(snakemake)  # noqa: F821 - injected by Snakemake
