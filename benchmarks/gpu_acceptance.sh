#!/usr/bin/env bash
# The GPU acceptance run (docs/gpus.md): archopt's GPU path checked in under 10 minutes on
# one H100, on a machine with no network whose python3 has PyTorch (any recent version:
# it is never reinstalled), numpy, pandas, matplotlib, onnx, onnxruntime and pytest. What archopt
# needs beyond that (Snakemake, Torch-Pruning, ...) is installed from the wheels in
# wheelhouse/ (prepared as docs/gpus.md says), then archopt itself with `--no-deps -e`.
#
#   bash benchmarks/gpu_acceptance.sh OUTDIR [--dry] [--work DIR]
#
# Prints one line per check (PASS / SKIP with the reason / FAIL) and writes
# OUTDIR/gpu_acceptance.json (and the printed lines to OUTDIR/gpu_acceptance.txt); exits 1
# when a check failed. --dry runs what a CPU can check, at tiny sizes, in a few minutes.
# --work: where the phases' results, logs and the small study go (default: a new folder
# under $TMPDIR or /tmp, kept for inspection). PYTHON overrides the interpreter.
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="" DRY="" WORK=""
while [ $# -gt 0 ]; do
    case "$1" in
        --dry) DRY="--dry" ;;
        --work) WORK="${2:?--work needs a folder}"; shift ;;
        -h|--help) sed -n '2,14p' "${BASH_SOURCE[0]}"; exit 0 ;;
        -*) echo "gpu_acceptance.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) OUT="$1" ;;
    esac
    shift
done
[ -n "$OUT" ] || { echo "usage: bash benchmarks/gpu_acceptance.sh OUTDIR [--dry] [--work DIR]" >&2; exit 2; }

if [ -z "${PYTHON:-}" ]; then
    # A checkout's own virtualenv where there is one, else the machine's python3.
    if [ -x "$REPO/.venv/bin/python" ]; then PYTHON="$REPO/.venv/bin/python"; else PYTHON="$(command -v python3)"; fi
fi
WORK="${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/archopt-gpu-acceptance-XXXX")}"
mkdir -p "$OUT" "$WORK/phases"
# This run's own GPU locks: nothing it does waits on, or blocks, another study's jobs.
export PYTHONUNBUFFERED=1 ARCHOPT_GPU_LOCK_DIR="$WORK/gpu-locks"

# The phases' budgets add up to 520 s (benchmarks/gpu_acceptance.py); this limit is the
# backstop that keeps the whole run, setup included, under 10 minutes.
LIMIT=$([ -n "$DRY" ] && echo 900 || echo 590)
{
    echo "gpu_acceptance: $PYTHON; work folder $WORK"
    timeout -k 5 120 "$PYTHON" "$REPO/benchmarks/gpu_acceptance.py" setup "$WORK"
    timeout -k 5 $((LIMIT - SECONDS)) \
        "$PYTHON" "$REPO/benchmarks/gpu_acceptance.py" run "$OUT" --work "$WORK" $DRY
} 2>&1 | tee "$OUT/gpu_acceptance.txt"
exit "${PIPESTATUS[0]}"
