"""Training of the CIFAR classifiers: plateau schedule, resumable loop, grid selection.

Other stages read the results through :func:`load_weights` (``best.pt`` files) and the
``metrics.json`` / ``summary.json`` files described in README "Training protocol".
"""

from archopt.train.checkpoint import CheckpointError, load_weights, read_checkpoint
from archopt.train.metrics import topk_correct, wilson_interval
from archopt.train.schedule import PlateauSchedule, Step

__all__ = [
    "CheckpointError",
    "PlateauSchedule",
    "Step",
    "load_weights",
    "read_checkpoint",
    "topk_correct",
    "wilson_interval",
]
