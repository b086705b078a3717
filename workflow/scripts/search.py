from archopt.search import search_job

search_job(snakemake)  # noqa: F821 - injected by Snakemake
