# The report (archopt.report): every result of the study, next to the paper's, in
# results/report/ (index.html, results.csv, findings.csv, recommendations.json and one PNG
# per entry of the report's figure list, archopt.report.figure_list, with its caption).
from archopt.report.figure_list import REPORT_FIGURES
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
        **{
            figure.name: report(
                f"{REPORT_DIR}/figures/{figure.name}.png",
                caption=str(figure.caption_file),
                category="Figures",
            )
            for figure in REPORT_FIGURES
        },
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
        recommendations=report(
            f"{REPORT_DIR}/recommendations.json",
            caption="../report/recommendations.rst",
            category="Report",
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
