"""Datasets: CIFAR-10/100 and pix2pix maps, downloaded under ``resources/`` and held in memory.

Public API (other stages code against it): :func:`load_cifar`, :func:`split_train_val`,
:func:`normalize`, :func:`augment`, :func:`batches`; maps pairs in :mod:`archopt.data.maps`.
"""

from archopt.data.augment import augment, batches, normalize
from archopt.data.cifar import CifarData, ImageSet, load_cifar, split_train_val
from archopt.data.specs import DATASET_NAMES

__all__ = [
    "DATASET_NAMES",
    "CifarData",
    "ImageSet",
    "augment",
    "batches",
    "load_cifar",
    "normalize",
    "split_train_val",
]
