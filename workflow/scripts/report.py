from archopt.report.jobs import report_job

report_job(snakemake)  # noqa: F821 - injected by Snakemake
