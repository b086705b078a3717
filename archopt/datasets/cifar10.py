"""CIFAR-10: 50,000 training and 10,000 test 32x32 colour images in 10 classes."""

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
))
