"""archopt.data loaders, augmentation, maps pairs, structure checks and `archopt datasets`."""

from __future__ import annotations

import json
import pickle
from collections import Counter
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from fake_data import write_cifar_tree, write_maps_tree

from archopt.cli import main
from archopt.data import batches, load_cifar, normalize, split_train_val
from archopt.data.augment import augment
from archopt.data.maps import MapsPairs, list_pairs, load_pair, transform_pair
from archopt.data.specs import cifar_spec
from archopt.data.status import dataset_status
from archopt.data.structure import StructureError, check_structure


@pytest.fixture(scope="module")
def resources(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("resources")
    write_cifar_tree(root, "cifar10", n_train=300, n_test=60)
    write_cifar_tree(root, "cifar100", n_train=400, n_test=100, seed=1)
    return root


@pytest.fixture(scope="module")
def cifar10(resources):
    return load_cifar("cifar10", root=resources)


# --- CIFAR reader -------------------------------------------------------------------------


@pytest.mark.parametrize("dataset, n_train, n_test", [("cifar10", 300, 60), ("cifar100", 400, 100)])
def test_load_cifar_shapes_dtypes_and_label_ranges(resources, dataset, n_train, n_test):
    data = load_cifar(dataset, root=resources)
    classes = cifar_spec(dataset).num_classes
    assert data.train.images.shape == (n_train, 3, 32, 32)
    assert data.test.images.shape == (n_test, 3, 32, 32)
    assert data.train.images.dtype == torch.uint8
    assert data.train.labels.dtype == torch.int64
    assert set(data.train.labels.tolist()) == set(range(classes))  # balanced fake data
    assert 0 <= data.test.labels.min() and data.test.labels.max() < classes
    assert len(data.classes) == classes


def test_cifar100_uses_fine_labels_and_keeps_coarse_ones(resources):
    data = load_cifar("cifar100", root=resources)
    assert data.train.labels.max() > 20  # fine labels span 100 classes
    assert torch.equal(data.train.coarse_labels, data.train.labels // 5)  # as fake_data wrote
    assert len(data.coarse_classes) == 20


def test_cifar10_has_no_coarse_labels(cifar10):
    assert cifar10.train.coarse_labels is None and cifar10.coarse_classes is None


def test_missing_dataset_names_the_folder_and_the_rule(tmp_path):
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py.*download_cifar10"):
        load_cifar("cifar10", root=tmp_path)


def test_pickle_with_code_is_refused_naming_the_file(tmp_path):
    folder = write_cifar_tree(tmp_path, "cifar10", 20, 10) / "cifar-10-batches-py"
    # A pickle that would call os.system if loaded with pickle.load.
    (folder / "test_batch").write_bytes(b"cos\nsystem\n(S'echo pwned'\ntR.")
    with pytest.raises(ValueError, match=r"test_batch.*os\.system is not allowed"):
        load_cifar("cifar10", root=tmp_path)


def test_labels_out_of_range_are_reported_with_file_and_key(tmp_path):
    folder = write_cifar_tree(tmp_path, "cifar10", 20, 10) / "cifar-10-batches-py"
    record = pickle.loads((folder / "test_batch").read_bytes(), encoding="bytes")
    record[b"labels"][0] = 10
    (folder / "test_batch").write_bytes(pickle.dumps(record, protocol=2))
    with pytest.raises(
        ValueError, match=r"test_batch: 'labels' values span \[0, 10\], expected \[0, 10\)"
    ):
        load_cifar("cifar10", root=tmp_path)


# --- split ----------------------------------------------------------------------------------


def test_split_holds_out_the_last_images_and_subsets_the_rest(cifar10):
    train, val = split_train_val(cifar10.train, val_size=50, train_subset=100)
    assert (len(train), len(val)) == (100, 50)
    assert torch.equal(val.images, cifar10.train.images[-50:])
    assert torch.equal(train.labels, cifar10.train.labels[:100])
    full_train, _ = split_train_val(cifar10.train, val_size=50, train_subset=None)
    assert len(full_train) == 250


@pytest.mark.parametrize(
    "val_size, subset, message",
    [
        (300, None, "train.val_size=300"),
        (0, None, "train.val_size=0"),
        (50, 251, "train.train_subset=251"),
    ],
)
def test_split_rejects_impossible_sizes_naming_the_key(cifar10, val_size, subset, message):
    with pytest.raises(ValueError, match=message):
        split_train_val(cifar10.train, val_size=val_size, train_subset=subset)


# --- normalize / augment / batches ------------------------------------------------------------


def test_normalize_matches_the_per_channel_formula(cifar10):
    images = cifar10.train.images[:8]
    out = normalize(images, "cifar10")
    spec = cifar_spec("cifar10")
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, (images.float() / 255 - mean) / std)


def test_normalize_rejects_float_input():
    with pytest.raises(ValueError, match="expected uint8"):
        normalize(torch.zeros(1, 3, 32, 32), "cifar10")


def _all_crops(image: torch.Tensor, padding: int = 4) -> list[torch.Tensor]:
    padded = F.pad(image, (padding,) * 4)
    crops = [
        padded[:, y : y + 32, x : x + 32]
        for y in range(2 * padding + 1)
        for x in range(2 * padding + 1)
    ]
    return crops + [c.flip(-1) for c in crops]


def test_augment_outputs_a_padded_crop_or_its_mirror_of_each_image(cifar10):
    images = cifar10.train.images[:12]
    out = augment(images, torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.dtype == torch.uint8
    for original, augmented in zip(images, out):
        assert any(torch.equal(augmented, crop) for crop in _all_crops(original))


def test_augment_varies_per_image_and_is_seeded(cifar10):
    same = cifar10.train.images[:1].expand(64, -1, -1, -1).contiguous()
    out = augment(same, torch.Generator().manual_seed(1))
    distinct = {tuple(img.flatten().tolist()) for img in out}
    assert len(distinct) > 20  # independent offsets/flips per image
    again = augment(same, torch.Generator().manual_seed(1))
    assert torch.equal(out, again)
    assert not torch.equal(out, augment(same, torch.Generator().manual_seed(2)))


def test_batches_cover_every_image_once_and_keep_the_last_partial_batch(cifar10):
    seen = list(
        batches(
            cifar10.train,
            128,
            "cifar10",
            shuffle=True,
            augment=True,
            generator=torch.Generator().manual_seed(0),
        )
    )
    assert [len(y) for _, y in seen] == [128, 128, 44]
    assert all(x.dtype == torch.float32 and x.shape[1:] == (3, 32, 32) for x, _ in seen)
    labels = torch.cat([y for _, y in seen])
    assert Counter(labels.tolist()) == Counter(cifar10.train.labels.tolist())
    assert not torch.equal(labels, cifar10.train.labels)  # shuffled


def test_batches_are_deterministic_for_a_seeded_generator(cifar10):
    def epoch(seed):
        return list(
            batches(
                cifar10.train,
                100,
                "cifar10",
                shuffle=True,
                augment=True,
                generator=torch.Generator().manual_seed(seed),
            )
        )

    first, second = epoch(3), epoch(3)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, second))


def test_batches_without_shuffle_or_augment_are_the_normalized_data_in_order(cifar10):
    (x, y), *_ = batches(cifar10.test, 1000, "cifar10", shuffle=False, augment=False)
    assert torch.equal(y, cifar10.test.labels)
    torch.testing.assert_close(x, normalize(cifar10.test.images, "cifar10"))


# --- maps -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def maps_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("maps_resources")
    write_maps_tree(root / "maps", n_train=12, n_val=3, height=32)
    return root


def test_list_pairs_sorts_numerically_and_takes_the_first_n(maps_root):
    assert [p.name for p in list_pairs(maps_root, "train")][8:11] == ["9.jpg", "10.jpg", "11.jpg"]
    assert [p.name for p in list_pairs(maps_root, "val", subset=2)] == ["1.jpg", "2.jpg"]
    with pytest.raises(ValueError, match="'test' is not one of"):
        list_pairs(maps_root, "test")


def test_load_pair_splits_satellite_left_and_map_right(maps_root):
    satellite, map_image = load_pair(list_pairs(maps_root, "train")[0])
    assert satellite.shape == map_image.shape == (3, 32, 32)
    assert satellite.dtype == torch.uint8
    # fake_data's map half is the posterized satellite half (JPEG adds a little noise).
    posterized = (satellite // 64) * 64 + 32
    assert (posterized.float() - map_image.float()).abs().mean() < 12


def test_transform_pair_applies_one_crop_and_flip_to_both_halves():
    image = torch.randint(0, 256, (3, 48, 48), dtype=torch.uint8)
    outputs = [
        transform_pair(
            image,
            image.clone(),
            train=True,
            load_size=72,
            crop_size=64,
            generator=torch.Generator().manual_seed(s),
        )
        for s in range(6)
    ]
    for satellite, map_image in outputs:
        assert satellite.shape == (3, 64, 64) and satellite.dtype == torch.float32
        assert torch.equal(satellite, map_image)  # identical halves stay identical
        assert -1 <= satellite.min() and satellite.max() <= 1
    assert len({tuple(s.flatten()[:50].tolist()) for s, _ in outputs}) > 1  # crops vary


def test_transform_pair_eval_resizes_to_the_crop_without_randomness():
    image = torch.randint(0, 256, (3, 48, 48), dtype=torch.uint8)
    first = transform_pair(image, image, train=False, load_size=72, crop_size=64)
    second = transform_pair(image, image, train=False, load_size=72, crop_size=64)
    assert first[0].shape == (3, 64, 64) and torch.equal(first[0], second[0])


def test_maps_pairs_dataset(maps_root):
    pairs = MapsPairs(maps_root, "val", train=False, load_size=40, crop_size=32)
    satellite, map_image = pairs[2]
    assert len(pairs) == 3 and satellite.shape == map_image.shape == (3, 32, 32)


def test_maps_structure_check_names_a_file_that_is_not_a_pair(tmp_path):
    write_maps_tree(tmp_path, n_train=2, n_val=1, height=16)
    from PIL import Image

    Image.new("RGB", (40, 16)).save(tmp_path / "maps" / "val" / "2.jpg")
    with pytest.raises(StructureError, match=r"val/2\.jpg: 40x16 is not a side-by-side pair"):
        check_structure("maps", tmp_path)


def test_maps_structure_check_needs_both_splits(tmp_path):
    write_maps_tree(tmp_path, n_train=2, n_val=0, height=16)
    with pytest.raises(StructureError, match=r"maps/val: no \.jpg files"):
        check_structure("maps", tmp_path)


# --- status and `archopt datasets` --------------------------------------------------------------


def test_status_ok_missing_and_corrupt(tmp_path):
    write_cifar_tree(tmp_path, "cifar10", 50, 20)
    assert dataset_status("cifar10", tmp_path)["status"] == "ok"
    assert dataset_status("cifar100", tmp_path)["status"] == "missing"
    (tmp_path / "cifar10" / "cifar-10-batches-py" / "data_batch_3").unlink()
    broken = dataset_status("cifar10", tmp_path)
    assert broken["status"] == "corrupt" and "data_batch_3" in broken["problem"]


def test_status_without_manifest_is_corrupt(tmp_path):
    write_cifar_tree(tmp_path, "cifar10", 50, 20)
    (tmp_path / "cifar10" / "manifest.json").unlink()
    status = dataset_status("cifar10", tmp_path)
    assert status["status"] == "corrupt" and "did not finish" in status["problem"]


def test_datasets_command_json(tmp_path, capsys):
    write_cifar_tree(tmp_path, "cifar100", 60, 30)
    assert main(["datasets", "--root", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["cifar100"] == {**report["cifar100"], "status": "ok", "train": 60, "test": 30}
    assert report["cifar10"]["status"] == "missing"
    assert report["maps"]["status"] == "missing"


def test_datasets_command_table(tmp_path, capsys):
    write_cifar_tree(tmp_path, "cifar10", 40, 20)
    main(["datasets", "--root", str(tmp_path)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["dataset", "status", "images"]
    assert lines[1].split()[:4] == ["cifar10", "ok", "40", "train,"]


def test_batches_leave_the_callers_thread_count_alone(cifar10):
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for _ in batches(cifar10.test, 16, "cifar10", shuffle=True, augment=True):
            assert torch.get_num_threads() == 2  # what the training step runs with
    finally:
        torch.set_num_threads(threads)
