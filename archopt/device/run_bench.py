"""Benchmark the networks of an archopt device bundle on this machine.

Run from the unpacked bundle: ``python run_bench.py --out RESULTS.json``. Needs only
Python >= 3.9, numpy and onnxruntime (OpenVINO is timed too when importable): this file
imports nothing from archopt, so its statistics are a copy of ``archopt.bench.stats``,
kept equal by archopt's tests. It measures like archopt's bench stage: load time, first
inference, warm-up, then single-image queries cycling over the images until both
``min_queries`` and ``min_duration_s`` are reached, in ``repeats`` fresh processes.
Results are rewritten atomically after every network, so a rerun after an interruption
keeps the networks already measured and times only the rest.

Each runtime runs in a worker process (one for the whole run, a fresh one after a crash,
one per repeat when ``repeats`` > 1), as in archopt's bench stage: a runtime that cannot
load a file, raises, gives non-finite outputs or dies in native code (a segfault while
compiling) gets ``{"failed": reason}`` for that network and the run goes on.
"""

from __future__ import annotations

import argparse
import faulthandler
import hashlib
import json
import math
import multiprocessing
import os
import platform
import signal
import sys
import tempfile
import time
from pathlib import Path
from statistics import NormalDist
from typing import Any, Callable, Dict, List, Optional

import numpy as np

RESULTS_FORMAT = "archopt-device-results"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
Z_95 = NormalDist().inv_cdf(0.975)
WARNINGS = ((0.25, "unreliable"), (0.10, "noisy"))  # IQR / median bounds, as archopt's
Runner = Callable[[np.ndarray], np.ndarray]


# --- statistics: a copy of archopt.bench.stats (tests compare the two) ----------------

def spread_warning(iqr_ms: float, median_ms: float) -> Optional[str]:
    ratio = iqr_ms / median_ms if median_ms > 0 else 0.0
    return next((label for bound, label in WARNINGS if ratio > bound), None)


def latency_stats(samples_ns: Any) -> Dict[str, Any]:
    ms = np.asarray(samples_ns, dtype=np.float64) / 1e6
    if ms.ndim != 1 or ms.size < 2:
        raise ValueError(f"latency statistics need at least 2 timings, got {ms.size}")
    std = float(ms.std(ddof=1))
    median = float(np.median(ms))
    q1, q3 = np.percentile(ms, [25, 75])
    iqr = float(q3 - q1)
    return {
        "median_ms": median,
        "mean_ms": float(ms.mean()),
        "std_ms": std,
        "p90_ms": float(np.percentile(ms, 90)),
        "p99_ms": float(np.percentile(ms, 99)),
        "ci95_ms": Z_95 * std / math.sqrt(ms.size),
        "n": int(ms.size),
        "iqr_ms": iqr,
        "warning": spread_warning(iqr, median),
    }


def between_processes(process_medians_ms: Any) -> Dict[str, Any]:
    medians = np.asarray(process_medians_ms, dtype=np.float64)
    if medians.ndim != 1 or medians.size < 1:
        raise ValueError("between-process statistics need at least one process median")
    return {
        "processes": int(medians.size),
        "median_ms": float(np.median(medians)),
        "std_ms": float(medians.std(ddof=1)) if medians.size > 1 else None,
        "min_ms": float(medians.min()),
        "max_ms": float(medians.max()),
    }


def topk_accuracy(logits: np.ndarray, labels: np.ndarray, k: int) -> float:
    if logits.shape[0] != labels.shape[0]:
        raise ValueError(f"{logits.shape[0]} outputs for {labels.shape[0]} labels")
    k = min(k, logits.shape[1])
    top = np.argpartition(-logits, k - 1, axis=1)[:, :k]
    return float((top == labels[:, None]).any(axis=1).mean() * 100)


# --- this machine ---------------------------------------------------------------------

def read_text(path: str) -> Optional[str]:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def cpu_model() -> str:
    for line in (read_text("/proc/cpuinfo") or "").splitlines():
        # x86 says "model name"; many ARM kernels only "Model" (the board) or "Hardware".
        if line.split(":")[0].strip() in ("model name", "Model", "Hardware"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def runtime_versions() -> Dict[str, Any]:
    import onnxruntime as ort

    versions = {"onnxruntime": ort.__version__,
                "onnxruntime_providers": ", ".join(ort.get_available_providers())}
    openvino = import_openvino()
    if openvino is not None:
        versions |= {"openvino": openvino.__version__,
                     "openvino_devices": ", ".join(openvino.Core().available_devices)}
    return versions


def environment(threads: int) -> Dict[str, Any]:
    """The ``env`` object of archopt's bench files, as far as this machine tells."""
    smt = read_text("/sys/devices/system/cpu/smt/active")
    return {
        "cpu_model": cpu_model(),
        "architecture": platform.machine(),
        "os": platform.platform(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable_cpus(),
        "cpu_governor": read_text("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "smt": None if smt is None else smt == "1",
        "threads": threads,
        "python": platform.python_version(),
        "numpy": np.__version__,
        **runtime_versions(),
        "runner": "run_bench.py",
    }


# --- runtimes ---------------------------------------------------------------------------

def import_openvino() -> Any:
    try:
        import openvino
    except ImportError:
        return None
    return openvino


def load_onnxruntime(path: str, threads: int) -> Runner:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads  # the bench stage's session settings
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda image: session.run(None, {name: image})[0]


def load_openvino(path: str, threads: int) -> Runner:
    openvino = import_openvino()
    options = {"PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1,
               "INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32"}
    compiled = openvino.Core().compile_model(path, "CPU", options)
    request = compiled.create_infer_request()
    output = compiled.output(0)
    # share_outputs=False: a copy to host memory per query, as the bench stage times it.
    return lambda image: request.infer({0: image}, share_outputs=False)[output]


LOADERS: Dict[str, Callable[[str, int], Runner]] = {
    "onnxruntime": load_onnxruntime, "openvino": load_openvino,
}


def available_runtimes() -> List[str]:
    return [name for name in LOADERS if name != "openvino" or import_openvino() is not None]


# --- timing -----------------------------------------------------------------------------

def time_once(runtime: str, path: str, images: np.ndarray, settings: Dict[str, Any]
              ) -> Dict[str, Any]:
    """One process's load, first inference, warm-up and timed queries of one runtime."""
    threads = settings["threads"]
    start = time.perf_counter_ns()
    run = LOADERS[runtime](path, threads)
    load_ms = (time.perf_counter_ns() - start) / 1e6
    start = time.perf_counter_ns()
    run(images[:1])
    first_ms = (time.perf_counter_ns() - start) / 1e6
    for index in range(settings["warmup"]):
        run(images[index % len(images)][None])
    samples: List[int] = []
    outputs = []
    started = time.perf_counter_ns()
    min_duration_ns = int(settings["min_duration_s"] * 1e9)
    while (len(samples) < max(len(images), settings["min_queries"])
           or time.perf_counter_ns() - started < min_duration_ns):
        index = len(samples) % len(images)
        image = images[index : index + 1]
        begin = time.perf_counter_ns()
        output = run(image)
        samples.append(time.perf_counter_ns() - begin)
        if len(outputs) < len(images):
            outputs.append(np.asarray(output)[0])
    return {"samples_ns": np.asarray(samples, dtype=np.int64), "outputs": np.stack(outputs),
            "load_ms": load_ms, "first_ms": first_ms}


class Failed(RuntimeError):
    """A runtime's call raised or its worker process died: the message is the reason."""


def exit_reason(exitcode: Optional[int]) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"crashed ({signal.Signals(-exitcode).name})"
        except ValueError:
            return f"crashed (signal {-exitcode})"
    return f"worker process exited with code {exitcode}"


def first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return (f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__)[:300]


def serve(connection: Any) -> None:
    """A worker process: answer ``(function, args)`` calls until the parent closes the pipe."""
    faulthandler.enable()  # a native crash prints where it happened to stderr
    while True:
        try:
            function, args = connection.recv()
        except EOFError:
            return
        try:
            connection.send((True, function(*args)))
        except Exception as error:  # a runtime's failure is its result
            connection.send((False, first_line(error)))


class Worker:
    """A spawned process running calls one after another, replaced after a crash (the
    same design as archopt's ``archopt.bench.worker``, without archopt)."""

    def __init__(self) -> None:
        self.process: Any = None
        self.connection: Any = None

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        if self.process is None:
            context = multiprocessing.get_context("spawn")
            self.connection, child = context.Pipe()
            self.process = context.Process(target=serve, args=(child,), daemon=True)
            self.process.start()
            child.close()
        self.connection.send((function, args))
        try:
            ok, value = self.connection.recv()
        except (EOFError, OSError):
            self.process.join()
            reason = exit_reason(self.process.exitcode)
            self.close()
            raise Failed(reason) from None
        if not ok:
            raise Failed(value)
        return value

    def close(self) -> None:
        if self.process is not None:
            self.connection.close()
            self.process.join(timeout=30)
            if self.process.is_alive():
                self.process.kill()
        self.process = self.connection = None


def time_runtime(runtime: str, path: str, images: np.ndarray, settings: Dict[str, Any],
                 worker: Worker) -> List[Dict[str, Any]]:
    """``repeats`` timings: in ``worker``, or with more than one each in a fresh process.
    Raises :class:`Failed` naming why the runtime could not time the file."""
    if settings["repeats"] == 1:
        runs = [worker.call(time_once, runtime, path, images, settings)]
    else:
        runs = []
        for _ in range(settings["repeats"]):
            fresh = Worker()
            try:
                runs.append(fresh.call(time_once, runtime, path, images, settings))
            finally:
                fresh.close()
    if not all(np.isfinite(run["outputs"]).all() for run in runs):
        raise Failed("outputs are not finite (NaN or infinity)")
    return runs


def summarize(runs: List[Dict[str, Any]], labels: Optional[np.ndarray]) -> Dict[str, Any]:
    """The bench stage's runtime object: statistics over every query of every process."""
    stats = latency_stats(np.concatenate([run["samples_ns"] for run in runs]))
    protocol: Dict[str, Any] = {
        "first_ms": float(np.median([run["first_ms"] for run in runs])),
        "load_ms": float(np.median([run["load_ms"] for run in runs])),
        "repeats": len(runs),
    }
    if len(runs) > 1:
        medians = [float(np.median(run["samples_ns"])) / 1e6 for run in runs]
        protocol["between_processes"] = between_processes(medians)
        protocol["processes"] = [
            {"median_ms": median, "first_ms": run["first_ms"], "load_ms": run["load_ms"],
             "n": int(run["samples_ns"].size)} for median, run in zip(medians, runs)]
    if labels is not None:
        outputs = runs[0]["outputs"]
        protocol |= {"top1": topk_accuracy(outputs, labels, 1),
                     "top5": topk_accuracy(outputs, labels, 5)}
    return stats | protocol


# --- the bundle and the results file ----------------------------------------------------

def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_files(folder: Path, networks: List[Dict[str, Any]]) -> None:
    """Refuse to time a bundle whose files are not the ones the study exported."""
    for entry in networks:
        path = folder / entry["file"]
        if not path.resolve().is_relative_to(folder.resolve()):
            raise SystemExit(f"run_bench.py: error: {MANIFEST}: file {entry['file']!r} of "
                             f"{network_key(entry)} is outside the bundle")
        if not path.is_file():
            raise SystemExit(f"run_bench.py: error: {entry['file']} is missing from the bundle")
        if sha256_of(path) != entry["sha256"]:
            raise SystemExit(f"run_bench.py: error: {entry['file']} does not match its SHA-256 "
                             "in manifest.json (modified or corrupt): unpack the bundle again")


def write_atomic(path: Path, data: Dict[str, Any]) -> None:
    """Write JSON next to ``path`` and rename it into place: never a half-written file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def previous_results(out: Path, bundle: str, settings: Dict[str, Any]) -> Dict[str, Any]:
    """Networks measured by an interrupted run of this bundle with the same settings."""
    if not out.exists():
        return {}
    old = json.loads(out.read_text())
    if old.get("bundle") != bundle or old.get("settings") != settings:
        raise SystemExit(f"run_bench.py: error: {out} holds results of another bundle or other "
                         "settings: give another --out or delete it")
    return old.get("networks", {})


def network_key(entry: Dict[str, Any]) -> str:
    return f"{entry['dataset']}/{entry['network']}"


# --- progress ---------------------------------------------------------------------------

class Progress:
    """``[done/total]`` lines with elapsed time and an ETA on stderr, per runtime timed."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.started = total, 0, time.monotonic()

    def step(self, text: str) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.started
        eta = elapsed / self.done * (self.total - self.done)
        print(f"[{self.done}/{self.total}] {text} ({elapsed:.0f} s elapsed, ETA {eta:.0f} s)",
              file=sys.stderr, flush=True)


# --- main -------------------------------------------------------------------------------

def measure_network(folder: Path, entry: Dict[str, Any], data: Any, runtimes: List[str],
                    settings: Dict[str, Any], progress: Progress, worker: Worker
                    ) -> Dict[str, Any]:
    dataset = entry["dataset"]
    images = np.ascontiguousarray(data[f"images_{dataset}"], dtype=np.float32)
    labels_key = f"labels_{dataset}"
    labels = data[labels_key] if labels_key in data.files else None
    result: Dict[str, Any] = {key: entry[key] for key in ("dataset", "network", "kind", "sha256")}
    result["images"] = len(images)
    for runtime in runtimes:
        try:
            runs = time_runtime(runtime, str(folder / entry["file"]), images, settings, worker)
        except Failed as error:  # e.g. OpenVINO has no conversion for a QOperator file
            result[runtime] = {"failed": f"{runtime} cannot run this file: {error}"}
            progress.step(f"{network_key(entry)} {runtime}: failed ({str(error)[:80]})")
            continue
        summary = summarize(runs, labels)
        result[runtime] = summary
        warning = f", {summary['warning']}" if summary["warning"] else ""
        progress.step(f"{network_key(entry)} {runtime}: median {summary['median_ms']:.3f} ms "
                      f"over {summary['n']} queries{warning}")
    return result


def parse_args(argv: Optional[List[str]], defaults: Dict[str, Any]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="results JSON to write")
    parser.add_argument("--threads", type=int, default=1, help="threads per runtime (1)")
    parser.add_argument("--networks", nargs="+", metavar="NAME",
                        help="only these networks (NAME or DATASET/NAME)")
    parser.add_argument("--runtimes", nargs="+", choices=sorted(LOADERS),
                        help="default: onnxruntime, and openvino when importable")
    for key, kind in (("warmup", int), ("min_queries", int), ("min_duration_s", float),
                      ("repeats", int)):
        parser.add_argument(f"--{key.replace('_', '-')}", type=kind, default=defaults[key],
                            help=f"default: the study's bench.{key} ({defaults[key]})")
    parser.add_argument("--stop-after", type=int, metavar="N",
                        help="stop after measuring N networks (rerun to go on)")
    args = parser.parse_args(argv)
    problem = check_options(args)
    if problem:
        parser.error(problem)
    return args


LOWEST = {"threads": 1, "repeats": 1, "warmup": 0, "min_queries": 0, "stop_after": 0}


def check_options(args: argparse.Namespace) -> Optional[str]:
    """What is wrong with the options (command line, or the manifest's defaults), if any."""
    for key, lowest in LOWEST.items():
        value = getattr(args, key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < lowest):
            return f"--{key.replace('_', '-')} must be an integer of at least {lowest}, got {value!r}"
    duration = args.min_duration_s
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not (
            math.isfinite(duration) and duration >= 0):
        return f"--min-duration-s must be a finite number of seconds >= 0, got {duration!r}"
    return None


def selected(networks: List[Dict[str, Any]], names: Optional[List[str]]) -> List[Dict[str, Any]]:
    if not names:
        return networks
    chosen = [e for e in networks if e["network"] in names or network_key(e) in names]
    unknown = set(names) - {e["network"] for e in chosen} - {network_key(e) for e in chosen}
    if unknown:
        raise SystemExit(f"run_bench.py: error: not in this bundle: {', '.join(sorted(unknown))}")
    return chosen


def main(argv: Optional[List[str]] = None) -> int:
    folder = Path(__file__).resolve().parent
    manifest_bytes = (folder / MANIFEST).read_bytes()
    manifest = json.loads(manifest_bytes)
    args = parse_args(argv, manifest["bench"])
    if args.threads > usable_cpus():
        raise SystemExit(f"run_bench.py: error: --threads {args.threads} exceeds the "
                         f"{usable_cpus()} CPU(s) this process may use")
    runtimes = args.runtimes or available_runtimes()
    settings = {"threads": args.threads, "warmup": args.warmup, "min_queries": args.min_queries,
                "min_duration_s": args.min_duration_s, "repeats": args.repeats,
                "runtimes": runtimes}
    networks = selected(manifest["networks"], args.networks)
    verify_files(folder, networks)
    bundle = hashlib.sha256(manifest_bytes).hexdigest()
    done = previous_results(args.out, bundle, settings)
    todo = [e for e in networks if network_key(e) not in done]
    if args.stop_after is not None:
        todo = todo[: args.stop_after]
    print(f"run_bench.py: {len(done)} network(s) already measured, {len(todo)} to measure",
          file=sys.stderr)
    data = np.load(folder / "data.npz")
    progress = Progress(len(todo) * len(runtimes))
    record = {"format": RESULTS_FORMAT, "version": FORMAT_VERSION, "bundle": bundle,
              "settings": settings, "env": environment(args.threads), "networks": done}
    worker = Worker()
    try:
        for entry in todo:
            done[network_key(entry)] = measure_network(folder, entry, data, runtimes, settings,
                                                       progress, worker)
            record["complete"] = all(network_key(e) in done for e in manifest["networks"])
            write_atomic(args.out, record)
    finally:
        worker.close()
    record["complete"] = all(network_key(e) in done for e in manifest["networks"])
    write_atomic(args.out, record)
    print(f"run_bench.py: wrote {args.out} ({len(done)} of {len(manifest['networks'])} "
          "networks)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
