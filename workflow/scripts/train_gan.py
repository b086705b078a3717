from archopt.gan.jobs import train_gan_job

train_gan_job(snakemake)  # noqa: F821 - injected by Snakemake
