# Perceptual study (archopt.perceptual): the bundle of real and generated maps that
# `archopt study serve` shows to volunteers (docs/pix2pix.md).
from archopt.paths import STUDY_BUNDLE

TARGET_FUNCTIONS.append(lambda: [STUDY_BUNDLE] if config["gan"]["variants"] else [])


rule study_bundle:
    input:
        data=dataset_marker(GAN_DATASET),
        checkpoints=expand(
            rules.train_gan.output.checkpoint, model=config["gan"]["variants"]
        ),
    output:
        bundle=directory(STUDY_BUNDLE),
    log:
        "logs/study/bundle.log",
    conda:
        "../../environment.yml"
    threads: config["train"]["threads"]
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        variants=config["gan"]["variants"],
        images_per_class=config["study"]["images_per_class"],
        seed=config["study"]["seed"],
        crop_size=config["gan"]["crop_size"],
    script:
        "../scripts/study_bundle.py"
