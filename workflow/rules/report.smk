# The report (archopt.report): every result of the study, next to the paper's, in
# results/report/ (index.html, results.csv, findings.csv and the figures).
from archopt.paths import (
    REPORT_DIR,
    REPORT_SETTINGS,
    STUDY_RESULTS,
    posttrain_device_targets,
    report_input_files,
)

TARGET_FUNCTIONS.append(lambda: [f"{REPORT_DIR}/index.html"])


rule report:
    input:
        unpack(lambda wildcards: report_input_files(config, catalog_datasets())),
        posttrain=posttrain_targets(config, ("summary",)),
        # Each result's cpu.json and every external device's imported file of it.
        posttrain_bench=[
            *posttrain_targets(config, ("bench",)),
            *posttrain_device_targets(config),
        ],
    output:
        html=report(
            f"{REPORT_DIR}/index.html",
            caption="../report/index.rst",
            category="Report",
        ),
        results=report(
            f"{REPORT_DIR}/results.csv",
            caption="../report/results.rst",
            category="Report",
        ),
        findings=report(
            f"{REPORT_DIR}/findings.csv",
            caption="../report/findings.rst",
            category="Report",
        ),
        flowchart=report(
            f"{REPORT_DIR}/figures/flowchart.png",
            caption="../report/flowchart.rst",
            category="Figures",
        ),
        accuracy=report(
            f"{REPORT_DIR}/figures/accuracy.png",
            caption="../report/accuracy.rst",
            category="Figures",
        ),
        latency=report(
            f"{REPORT_DIR}/figures/latency.png",
            caption="../report/latency.rst",
            category="Figures",
        ),
        pareto_params=report(
            f"{REPORT_DIR}/figures/pareto_params.png",
            caption="../report/pareto_params.rst",
            category="Figures",
        ),
        pareto_latency=report(
            f"{REPORT_DIR}/figures/pareto_latency.png",
            caption="../report/pareto_latency.rst",
            category="Figures",
        ),
        latency_ratio=report(
            f"{REPORT_DIR}/figures/latency_ratio.png",
            caption="../report/latency_ratio.rst",
            category="Figures",
        ),
        gan_samples=report(
            f"{REPORT_DIR}/figures/gan_samples.png",
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
        study_results=STUDY_RESULTS,
    script:
        "../scripts/report.py"
