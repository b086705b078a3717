from archopt.device.jobs import import_job

import_job(snakemake)  # noqa: F821 - injected by Snakemake
