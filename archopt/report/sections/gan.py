"""The Pix2Pix generators (the dissertation's Table 13) and their perceptual study."""

from __future__ import annotations

from typing import Any

from archopt.paths import GAN_DATASET, GAN_SUMMARY, STUDY_RESULTS
from archopt.report.provisional import mark_cells
from archopt.report.study import Study
from archopt.report.table import ARCHOPT
from archopt.report.tables import gan_table

KEY = "gan"
TITLE = "Pix2Pix generators (paper Table 13)"


def not_run(study: Study) -> list[str]:
    """What of the generators' study has no result yet."""
    table = study.table
    metrics = set(table.loc[(table["source"] == ARCHOPT) & (table["dataset"] == GAN_DATASET),
                            "metric"])
    status = []
    if "pixel_acc" not in metrics:
        status.append(f"GAN training not run: no {GAN_SUMMARY} yet; only the paper's values "
                      "are shown.")
    if "perceptual_error" not in metrics:
        status.append(f"Perceptual study not run: no {STUDY_RESULTS} yet.")
    return status


def data(study: Study) -> dict[str, Any]:
    return {"status": " ".join(not_run(study)),
            "table": mark_cells(gan_table(study.table), GAN_DATASET, study.provisional),
            "samples_png": study.figures["gan_samples"] if study.inputs.gan_samples else None}
