from archopt.catalog.jobs import catalog_job

catalog_job(snakemake)  # noqa: F821 - injected by Snakemake
