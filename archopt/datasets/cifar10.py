"""CIFAR-10: 50,000 training and 10,000 test 32x32 colour images in 10 classes."""

from archopt.data.archive import MIB, ArchiveLimits
from archopt.data.specs import CifarLayout
from archopt.datasets import CLASSIFICATION, Dataset, register_dataset

CIFAR10 = register_dataset(Dataset(
    name="cifar10",
    title="CIFAR-10",
    kind=CLASSIFICATION,
    image_shape=(3, 32, 32),
    primary_metric="top1",
    train_images=50_000,
    test_images=10_000,
    url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    md5="c58f30108f718f92721af3b95e74349a",
    num_classes=10,
    mean=(0.4914, 0.4822, 0.4465),
    std=(0.2470, 0.2435, 0.2616),
    folder="cifar-10-batches-py",
    reader="archopt.data.cifar:load_cifar",
    structure="archopt.data.structure:check_cifar",
    layout=CifarLayout(
        train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
        test_files=("test_batch",),
        meta_file="batches.meta",
        label_key="labels",
        class_names_key="label_names",
    ),
    archive=ArchiveLimits(  # the folder and its 8 files: 178 MiB
        members=(
            r"cifar-10-batches-py",
            r"cifar-10-batches-py/(data_batch_[1-5]|test_batch|batches\.meta|readme\.html)",
        ),
        max_members=16,
        max_bytes=256 * MIB,
    ),
))
