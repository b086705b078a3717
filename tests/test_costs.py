"""The shipped network-cost table: complete for the default study, and true."""

from __future__ import annotations

import random

import pytest
from conftest import REPO

from archopt.config import load_config
from archopt.models import count_macs, get_model, input_shape
from archopt.models.costs import measure_costs, network_costs, shipped_costs
from archopt.study import study_networks


def test_table_covers_every_network_of_the_paper_preset():
    config = load_config(REPO / "config.yaml", REPO / "workflow/schemas/config.schema.yaml")
    table = shipped_costs()
    for dataset in [*config["studies"], "maps"]:
        for name in study_networks(config, dataset):
            assert (name, dataset) in table, (name, dataset)


@pytest.mark.parametrize("index", random.Random(0).sample(range(120), 4))
def test_table_rows_match_a_fresh_measurement(index):
    (name, dataset), costs = sorted(shipped_costs().items())[index]
    assert measure_costs(name, dataset) == costs


def test_lookup_by_alias_and_fallback_measurement():
    assert network_costs("ResNet20-DSC-0.36", "cifar10").params == 270_684
    unlisted = network_costs("resnet20-dsc-0.5", "cifar10")  # not in the table: measured
    assert unlisted.macs == count_macs(lambda: get_model("resnet20-dsc-0.5"), input_shape("cifar10"))
    assert unlisted.activation_floats > network_costs("resnet20-dsc", "cifar10").activation_floats
