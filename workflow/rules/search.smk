# Equal-budget width search (archopt.search): the networks it picks join the study
# through study_networks(); this rule writes the table comparing them with the paper's.
TARGET_FUNCTIONS.append(
    lambda: expand("results/search/{dataset}.csv", dataset=config["studies"])
)


rule search:
    input:
        paper="resources/paper/param_counts.csv",
    output:
        "results/search/{dataset}.csv",
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
