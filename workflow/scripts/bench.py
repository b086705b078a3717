from archopt.bench.jobs import bench_job

bench_job(snakemake)  # noqa: F821 - injected by Snakemake
