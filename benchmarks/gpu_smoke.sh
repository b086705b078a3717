#!/usr/bin/env bash
# GPU smoke study, at most 5 minutes on a machine with a CUDA GPU: a tiny study (fake
# CIFAR-10, ResNet20 and ResNet20-Shift, one training epoch on the GPU), the CUDA
# benchmark of every runtime in bench.runtimes, the report; then prints the numbers.
# Without a GPU it stops at once, saying so.
#
#   bash benchmarks/gpu_smoke.sh [WORKDIR]      (default: a new temporary folder)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$REPO/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON="$(command -v python3)"
SNAKEMAKE="$(dirname "$PYTHON")/snakemake"

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "gpu_smoke.sh: no NVIDIA GPU here (nvidia-smi finds none); run it on a CUDA machine" >&2
    exit 2
fi
if ! "$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_smoke.sh: torch ($("$PYTHON" -c 'import torch; print(torch.__version__)')) sees no CUDA device" >&2
    exit 2
fi

WORK="${1:-$(mktemp -d -t archopt-gpu-smoke-XXXX)}"
echo "gpu_smoke.sh: working in $WORK"
cd "$REPO/tests"
"$PYTHON" - "$WORK" <<'PY'
import sys
from pathlib import Path

from conftest import copy_workflow
from fake_data import write_cifar_tree

work = Path(sys.argv[1])
copy_workflow(work)
write_cifar_tree(work / "resources", "cifar10", n_train=1200, n_test=200)
(work / "smoke.yaml").write_text(
    "networks: [resnet20, resnet20-shift]\n"
    "train: {max_epochs: 1, train_subset: 1000, val_size: 200}\n"
    "gan: {variants: []}\n"
    "bench: {devices: [cuda], images: 100, min_queries: 100, min_duration_s: 0.5}\n"
)
PY
cd "$WORK"
timeout 290 "$SNAKEMAKE" --cores all --config preset=quick --configfile smoke.yaml \
    --resources gpu=1 -- results/report/index.html > smoke.log 2>&1 || {
    echo "gpu_smoke.sh: the study failed (or passed 290 s); last lines of $WORK/smoke.log:" >&2
    tail -40 smoke.log >&2
    exit 1
}
"$PYTHON" - <<'PY'
import json
from pathlib import Path

for path in sorted(Path("results/bench/cifar10").glob("*/cuda.json")):
    data = json.loads(path.read_text())
    print(f"{path.parent.name}  ({data.get('env', {}).get('cuda_device', 'no GPU')})")
    if "skipped" in data:
        print(f"  skipped: {data['skipped']}")
        continue
    for name, entry in data.items():
        if not isinstance(entry, dict) or name in ("env", "storage"):
            continue
        if "skipped" in entry:
            print(f"  {name:<12} skipped: {entry['skipped']}")
        else:
            print(f"  {name:<12} median {entry['median_ms']:.3f} ms  p90 {entry['p90_ms']:.3f}  "
                  f"load {entry['load_ms']:.0f} ms  first {entry['first_ms']:.2f} ms  "
                  f"max|diff| {entry['max_abs_diff']:.1e}  {entry['warning'] or ''}")
for path in sorted(Path("results/models/cifar10").glob("*/summary.json")):
    summary = json.loads(path.read_text())
    print(f"{summary['model']}: test top-1 {summary['test_top1']:.2f}% after "
          f"{summary['epochs']} epoch(s) on {summary.get('device')}")
print("report: results/report/index.html")
PY
