# archopt: CNN architecture-optimization study. Rules are thin; the logic is in archopt/.
from snakemake.utils import min_version

min_version("9.19")


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/datasets.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/search.smk"
include: "workflow/rules/bench.smk"
include: "workflow/rules/posttrain.smk"
include: "workflow/rules/device.smk"
include: "workflow/rules/gan.smk"
include: "workflow/rules/perceptual.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets(),


print_study_plan()
