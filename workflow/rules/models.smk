from archopt.paths import CATALOG

TARGET_FUNCTIONS.append(lambda: expand(CATALOG, dataset=catalog_datasets()))


rule catalog:
    output:
        report(
            CATALOG,
            caption="../report/catalog.rst",
            category="Models",
        ),
    log:
        "logs/catalog/{dataset}.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        networks=lambda wildcards: study_networks(config, wildcards.dataset),
    script:
        "../scripts/catalog.py"
