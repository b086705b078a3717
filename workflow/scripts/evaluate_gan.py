from archopt.gan.jobs import evaluate_gan_job

evaluate_gan_job(snakemake)  # noqa: F821 - injected by Snakemake
