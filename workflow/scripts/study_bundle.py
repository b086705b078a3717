from archopt.perceptual.jobs import study_bundle_job

study_bundle_job(snakemake)  # noqa: F821 - injected by Snakemake
