"""What ran: per device, the settings and library versions its bench files record, and
where they differ from the configuration.

The configuration says what was asked for; a bench file's ``env`` (and each timed
runtime's protocol fields) says what ran. The two can disagree: Snakemake caps a job's
threads at ``--cores``, an imported device ran ``run_bench.py`` with its own options, and
a bench file may predate a change of the config. The report states what the files say.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from archopt.report import sources

# The settings a bench file records, each compared with ``bench.<same name>`` of the config.
# ``images``: the file's count of benchmarked images; the others: its ``env`` (threads) or
# its runtimes' protocol fields (an imported device: its ``env.settings``, run_bench.py's).
SETTINGS = ("threads", "images", "warmup", "min_queries", "min_duration_s", "repeats")
# Facts about the machine rather than a library: the other ``env`` entries are versions.
MACHINE_KEYS = ("cpu_model", "gpu", "cuda_device", "architecture", "os", "cpu_count",
                "usable_cpus", "affinity_cpus", "cgroup_cpu_quota", "slurm_cpus_per_task",
                "cpu_governor", "cpu_boost", "smt", "platform", "threads", "settings",
                "imported_from", "bundle", "sha256")


@dataclass
class DeviceRun:
    """What the bench files of one device record."""

    device: str
    imported: bool
    env: dict[str, Any]  # the ``env`` of its first bench file
    files: int = 0
    # setting -> value -> how many bench files record it
    settings: dict[str, Counter] = field(default_factory=lambda: {k: Counter() for k in SETTINGS})
    runtimes: list[str] = field(default_factory=list)  # the runtimes its files timed

    @property
    def note(self) -> str:
        """``Measured on AMD EPYC 7B13, 1 thread(s).``"""
        parts = [str(self.env[key]) for key in ("cpu_model", "gpu", "cuda_device")
                 if self.env.get(key)]
        threads = self.values("threads")
        if threads:
            parts.append(f"{self.text('threads')} thread(s)")
        return f"Measured on {', '.join(parts)}." if parts else ""

    def values(self, setting: str) -> list[Any]:
        """The distinct values of ``setting`` its files record, the most frequent first."""
        return [value for value, _ in self.settings[setting].most_common()]

    def text(self, setting: str) -> str:
        """``2``, or ``2 (8 files), 4 (3 files)`` where the files disagree; ``not recorded``."""
        counts = self.settings[setting].most_common()
        if len(counts) <= 1:
            return "not recorded" if not counts else str(counts[0][0])
        return ", ".join(f"{value} ({n} file{'s' if n > 1 else ''})" for value, n in counts)

    def versions(self) -> dict[str, Any]:
        """The libraries (and similar facts) its first file's ``env`` records."""
        return {key: value for key, value in self.env.items()
                if key not in MACHINE_KEYS and value not in (None, "")}


def timed_runtimes(bench: dict[str, Any]) -> list[str]:
    """The runtimes a bench file holds timings of (not skipped, not failed)."""
    return [runtime for runtime in sources.runtimes_present(bench)
            if not sources.not_measured(bench[runtime])]


def recorded_settings(bench: dict[str, Any]) -> dict[str, set[Any]]:
    """setting -> the values one bench file records (a runtime entry may lack a field)."""
    env = bench.get("env") if isinstance(bench.get("env"), dict) else {}
    if isinstance(env.get("settings"), dict):  # run_bench.py's options, for the whole file
        records = [env["settings"]]
    else:  # the bench stage: threads in env, the protocol in each timed runtime's entry
        records = [{"threads": env.get("threads")}, *(bench[r] for r in timed_runtimes(bench))]
    found: dict[str, set[Any]] = {key: set() for key in SETTINGS}
    if bench.get("images") is not None:
        found["images"].add(bench["images"])
    for record in records:
        for key in SETTINGS:
            if key != "images" and record.get(key) is not None:
                found[key].add(record[key])
    return found


def device_runs(benches: Sequence[dict[str, Any]]) -> dict[str, DeviceRun]:
    """device -> what its bench files record, in the files' order; a device whose files
    all say it was skipped ran nothing and is left out."""
    runs: dict[str, DeviceRun] = {}
    for bench in benches:
        if "skipped" in bench:
            continue
        device = sources.bench_identity(bench)[2]
        env = bench.get("env") if isinstance(bench.get("env"), dict) else {}
        run = runs.setdefault(device, DeviceRun(device, sources.is_imported(bench), env))
        run.files += 1
        for key, values in recorded_settings(bench).items():
            run.settings[key].update(values)
        for runtime in timed_runtimes(bench):
            if runtime not in run.runtimes:
                run.runtimes.append(runtime)
    return runs


@dataclass(frozen=True)
class Difference:
    """A setting whose recorded values are not the configured one."""

    device: str
    setting: str
    configured: Any
    recorded: str  # DeviceRun.text

    @property
    def key(self) -> str:
        return f"bench.{self.setting}"

    def text(self) -> str:
        return (f"{self.device}: config key `{self.key}` is {self.configured}; its bench files "
                f"record {self.recorded}")


def differences(runs: Mapping[str, DeviceRun], bench: Mapping[str, Any]) -> list[Difference]:
    """Every device setting its files record otherwise than the config's ``bench``
    section; ``bench.images`` unset (the whole test set) matches any count."""
    found = []
    for run in runs.values():
        for setting in SETTINGS:
            configured, values = bench.get(setting), run.values(setting)
            if configured is None or not values:
                continue
            if any(value != configured for value in values):
                found.append(Difference(run.device, setting, configured, run.text(setting)))
    return found
