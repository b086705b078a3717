"""Pix2Pix's epoch pipeline: pairs decoded in DataLoader workers, losses summed on the
device; the same pairs and the same epoch means as pair-by-pair decoding on the host."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fake_data import write_maps_tree

from archopt.data.maps import MapsPairs
from archopt.gan.pix2pix import StepLosses
from archopt.gan.train import epoch_pairs, mean_losses


@pytest.fixture(scope="module")
def maps_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("maps_resources")
    write_maps_tree(root / "maps", n_train=7, n_val=1, height=48)
    return root


def pairs_one_at_a_time(root, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """How training read its pairs before workers: the order, then each pair decoded and
    transformed with its crop and flip drawn as it is read."""
    generator = torch.Generator().manual_seed(seed)
    pairs = MapsPairs(root, "train", train=True, load_size=56, crop_size=48, generator=generator)
    order = torch.randperm(len(pairs), generator=generator).tolist()
    return [pairs[index] for index in order]


@pytest.mark.parametrize("workers", [0, 2])
def test_worker_decoded_epochs_equal_pair_by_pair_decoding(maps_root, workers):
    generator = torch.Generator().manual_seed(5)
    pairs = MapsPairs(maps_root, "train", train=True, load_size=56, crop_size=48)
    for epoch in range(2):  # the generator carries over from one epoch to the next
        got = list(epoch_pairs(pairs, generator, workers))
        if epoch == 0:
            want = pairs_one_at_a_time(maps_root, 5)
            assert len(got) == len(want) == 7
            for (source, target), (want_source, want_target) in zip(got, want):
                assert torch.equal(source, want_source) and torch.equal(target, want_target)
    flips = [crop[2] for crop in epoch_pairs(pairs, generator, 0).dataset.crops]
    assert len(set(flips)) == 2  # the draws are really random (both flips occur)


def test_epoch_means_equal_numpys_mean_of_the_step_floats():
    values = torch.rand(37, 4, generator=torch.Generator().manual_seed(0)) * 10
    steps = [StepLosses(*row) for row in values]
    expected = {
        name: float(np.mean([float(row[k]) for row in values]))
        for k, name in enumerate(("d_real", "d_fake", "g_gan", "g_l1"))
    }
    assert mean_losses(steps) == expected
