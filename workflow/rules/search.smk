# Equal-budget width search (archopt.search): the networks it picks join the study
# through study_networks(); this rule writes the table comparing them with the paper's.
from archopt.paths import PAPER_PARAM_COUNTS, SEARCH_TABLE

TARGET_FUNCTIONS.append(lambda: expand(SEARCH_TABLE, dataset=config["studies"]))


rule search:
    input:
        paper=PAPER_PARAM_COUNTS,
    output:
        table=SEARCH_TABLE,
    log:
        "logs/search/{dataset}.log",
    wildcard_constraints:
        dataset=CLASSIFICATION_DATASET,
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        step=config["search"]["step"],
    script:
        "../scripts/search.py"
