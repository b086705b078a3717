# The report (archopt.report): every result of the study, next to the paper's, in
# results/report/ (index.html, results.csv, findings.csv and the figures).
from archopt.paths import REPORT_SETTINGS, report_input_files

TARGET_FUNCTIONS.append(lambda: ["results/report/index.html"])


rule report:
    input:
        unpack(lambda wildcards: report_input_files(config, catalog_datasets())),
        posttrain=posttrain_targets(config, ("summary",)),
        posttrain_bench=posttrain_targets(config, ("bench",)),
    output:
        html=report(
            "results/report/index.html",
            caption="../report/index.rst",
            category="Report",
        ),
        results=report(
            "results/report/results.csv",
            caption="../report/results.rst",
            category="Report",
        ),
        findings=report(
            "results/report/findings.csv",
            caption="../report/findings.rst",
            category="Report",
        ),
        flowchart=report(
            "results/report/figures/flowchart.png",
            caption="../report/flowchart.rst",
            category="Figures",
        ),
        accuracy=report(
            "results/report/figures/accuracy.png",
            caption="../report/accuracy.rst",
            category="Figures",
        ),
        latency=report(
            "results/report/figures/latency.png",
            caption="../report/latency.rst",
            category="Figures",
        ),
        pareto_params=report(
            "results/report/figures/pareto_params.png",
            caption="../report/pareto_params.rst",
            category="Figures",
        ),
        pareto_latency=report(
            "results/report/figures/pareto_latency.png",
            caption="../report/pareto_latency.rst",
            category="Figures",
        ),
        latency_ratio=report(
            "results/report/figures/latency_ratio.png",
            caption="../report/latency_ratio.rst",
            category="Figures",
        ),
        gan_samples=report(
            "results/report/figures/gan_samples.png",
            caption="../report/gan_samples.rst",
            category="Figures",
        ),
    log:
        "logs/report/report.log",
    conda:
        "../../environment.yml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        settings={key: config.get(key) for key in REPORT_SETTINGS},
        study_results="results/study/results.csv",
    script:
        "../scripts/report.py"
