"""Datasets: CIFAR-10/100 and pix2pix maps, downloaded under ``resources/`` and held in memory.

Public API (other stages code against it): :func:`load_cifar`, :func:`split_train_val`,
:func:`normalize`, :func:`batches` (and ``archopt.data.augment.augment``: the submodule
of that name shadows a lazy export); maps pairs in :mod:`archopt.data.maps`.
Imported on first use (``archopt.lazy``): ``archopt.data.specs`` and the manifests stay
torch-free for the workflow's parse.
"""

from archopt.lazy import lazy_exports

_EXPORTS = {
    "CifarData": "archopt.data.cifar",
    "ImageSet": "archopt.data.cifar",
    "load_cifar": "archopt.data.cifar",
    "split_train_val": "archopt.data.cifar",
    "batches": "archopt.data.augment",
    "normalize": "archopt.data.augment",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
