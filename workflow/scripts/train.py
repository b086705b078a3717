from archopt.train.jobs import train_job

train_job(snakemake)  # noqa: F821 - injected by Snakemake
