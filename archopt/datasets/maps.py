"""pix2pix maps: 1,096 training and 1,098 validation satellite|map pairs (the validation
split is the test set), generators judged by pixel accuracy against a palette."""

from archopt.datasets import PAIRED, Dataset, register_dataset

MAPS = register_dataset(Dataset(
    name="maps",
    title="pix2pix maps",
    kind=PAIRED,
    image_shape=(3, 256, 256),
    primary_metric="pixel_acc",
    train_images=1096,
    test_images=1098,
    url="http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/maps.tar.gz",
    md5=None,  # no official checksum is published
    folder="maps",
    reader="archopt.data.maps:read_maps",
    structure="archopt.data.structure:check_maps",
    splits=("train", "val"),
))
