"""Training of the CIFAR classifiers: plateau schedule, resumable loop, grid selection.

Other stages read the results through :func:`load_weights` (``best.pt`` files) and the
``metrics.json`` / ``summary.json`` files described in docs/training.md.
"""

from archopt.lazy import lazy_exports

_EXPORTS = {
    "CheckpointError": "archopt.train.checkpoint",
    "load_weights": "archopt.train.checkpoint",
    "read_checkpoint": "archopt.train.checkpoint",
    "topk_correct": "archopt.train.metrics",
    "wilson_interval": "archopt.train.metrics",
    "PlateauSchedule": "archopt.train.schedule",
    "Step": "archopt.train.schedule",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
