from archopt.train.jobs import select_best_job

select_best_job(snakemake)  # noqa: F821 - injected by Snakemake
