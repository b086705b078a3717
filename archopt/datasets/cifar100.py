"""CIFAR-100: CIFAR-10's sizes with 100 fine classes; the dissertation compares top-5."""

from archopt.data.archive import MIB, ArchiveLimits
from archopt.data.specs import CifarLayout
from archopt.datasets import CLASSIFICATION, Dataset, register_dataset

CIFAR100 = register_dataset(Dataset(
    name="cifar100",
    title="CIFAR-100",
    kind=CLASSIFICATION,
    image_shape=(3, 32, 32),
    primary_metric="top5",
    train_images=50_000,
    test_images=10_000,
    url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
    md5="eb9058c3a382ffc7106e4002c42a8d85",
    num_classes=100,
    mean=(0.5071, 0.4865, 0.4409),
    std=(0.2673, 0.2564, 0.2762),
    folder="cifar-100-python",
    reader="archopt.data.cifar:load_cifar",
    structure="archopt.data.structure:check_cifar",
    layout=CifarLayout(
        train_files=("train",),
        test_files=("test",),
        meta_file="meta",
        label_key="fine_labels",
        class_names_key="fine_label_names",
        coarse_label_key="coarse_labels",
        coarse_names_key="coarse_label_names",
    ),
    archive=ArchiveLimits(  # the folder and its 4 files: 178 MiB
        members=(
            r"cifar-100-python",
            r"cifar-100-python/(train|test|meta|file\.txt~)",
        ),
        max_members=16,
        max_bytes=256 * MIB,
    ),
))
