"""Every device with a measured latency, and how clean its timings are."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archopt.bench.timing import JITTER_REFERENCE
from archopt.report.answer import measured_devices
from archopt.report.study import Study
from archopt.report.table import ARCHOPT

KEY = "devices"
TITLE = "Devices"


@dataclass(frozen=True)
class DeviceRow:
    """A device of the section: where it ran and how clean its timings are."""

    device: str
    imported: bool
    environment: str
    runtimes: list[str]
    cells: int  # measured latencies (network x runtime)
    noisy: int
    unreliable: int
    jitter: float | None  # the machine's own IQR / median, the largest of its bench files'


def machine_jitter(study: Study, device: str) -> float | None:
    """The largest ``iqr_ratio`` of the reference computation the device's bench files
    timed beside their runtimes (archopt.bench.timing.machine_jitter); None if none did."""
    ratios = [window["iqr_ratio"] for bench in study.benches if bench.get("device") == device
              for window in (bench.get("jitter") or {}).get("windows", [])]
    return max(ratios, default=None)


def device_row(study: Study, device: str) -> DeviceRow:
    """One device's latency cells of the study networks (post-training rows excluded)."""
    table = study.table
    mine = table[(table["source"] == ARCHOPT) & (table["device"] == device)]
    latency = mine[(mine["metric"] == "latency_ms") & mine["value"].notna()]
    warnings = mine.loc[mine["metric"] == "latency_iqr_ms", "note"].fillna("")
    run = study.runs.get(device)
    return DeviceRow(device, run is not None and run.imported, run.note if run else "",
                     list(dict.fromkeys(latency["runtime"])), len(latency),
                     int((warnings == "warning=noisy").sum()),
                     int((warnings == "warning=unreliable").sum()), machine_jitter(study, device))


def data(study: Study) -> dict[str, Any]:
    return {"devices": [device_row(study, device) for device in measured_devices(study.table)],
            "reference": JITTER_REFERENCE}
