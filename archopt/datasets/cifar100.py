"""CIFAR-100: CIFAR-10's sizes with 100 fine classes; the dissertation compares top-5."""

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
))
