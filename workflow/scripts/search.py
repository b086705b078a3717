from archopt.search.jobs import search_job

search_job(snakemake)  # noqa: F821 - injected by Snakemake
