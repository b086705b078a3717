"""pix2pix maps: 1,096 training and 1,098 validation satellite|map pairs (the validation
split is the test set), generators judged by pixel accuracy against a palette."""

from archopt.data.archive import MIB, ArchiveLimits
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
    test_inputs="archopt.data.maps:first_val_satellites",
    splits=("train", "val"),
    # maps/, its two split folders and 1,096 + 1,098 JPEG pairs: about 240 MiB
    archive=ArchiveLimits(
        members=(r"maps", r"maps/(train|val)", r"maps/(train|val)/\d+\.jpg"),
        max_members=3 + 1096 + 1098 + 1,  # + 1: a "./" entry
        max_bytes=512 * MIB,
    ),
))
