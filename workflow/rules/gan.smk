# Pix2Pix on maps (archopt.gan): a palette fitted once on the training maps, then one
# training and one evaluation job per generator variant.
from archopt.paths import GAN_CHECKPOINT, GAN_DIR, GAN_PALETTE, GAN_SAMPLES, GAN_SUMMARY
from archopt.train.resources import gan_runtime_minutes

TARGET_FUNCTIONS.append(lambda: expand(GAN_SUMMARY, model=config["gan"]["variants"]))


rule gan_palette:
    input:
        data=dataset_marker(GAN_DATASET),
    output:
        palette=GAN_PALETTE,
    log:
        "logs/gan/palette.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        gan=config_subset(
            "gan", "train_subset", "load_size", "crop_size", "palette_size", "seed"
        ),
    script:
        "../scripts/gan_palette.py"


rule train_gan:
    input:
        data=dataset_marker(GAN_DATASET),
    output:
        checkpoint=GAN_CHECKPOINT,
        metrics=f"{GAN_DIR}/training.json",
    log:
        "logs/gan/{model}/train.log",
    wildcard_constraints:
        model="pix2pix[a-z-]*",
    conda:
        "../../environment.yml"
    threads: config["train"]["threads"]
    resources:
        mem_mb=8000,
        runtime=lambda wildcards, threads: gan_runtime_minutes(
            config["gan"], threads, TRAIN_USES_CUDA
        ),
        gpu=int(TRAIN_USES_CUDA),
    params:
        gan=config_subset(
            "gan",
            "train_subset",
            "load_size",
            "crop_size",
            "epochs",
            "epochs_decay",
            "seed",
        ),
    script:
        "../scripts/train_gan.py"


rule evaluate_gan:
    input:
        data=dataset_marker(GAN_DATASET),
        checkpoint=rules.train_gan.output.checkpoint,
        metrics=rules.train_gan.output.metrics,
        palette=rules.gan_palette.output.palette,
    output:
        summary=report(
            GAN_SUMMARY,
            caption="../report/gan_summary.rst",
            category="Pix2Pix",
        ),
        samples=directory(GAN_SAMPLES),
    log:
        "logs/gan/{model}/evaluate.log",
    wildcard_constraints:
        model="pix2pix[a-z-]*",
    conda:
        "../../environment.yml"
    threads: config["train"]["threads"]
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=int(TRAIN_USES_CUDA),
    params:
        gan=config_subset(
            "gan", "val_subset", "load_size", "crop_size", "seed", "samples"
        ),
    script:
        "../scripts/evaluate_gan.py"
