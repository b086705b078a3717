"""Equal-budget width search: analytic counts, brute-force agreement, the paper's choices."""

from __future__ import annotations

import csv

import pytest
import torch
from conftest import REPO, run_snakemake

from archopt.models import count_params, get_model, parse_name
from archopt.models.registry import format_rate, resnet_spec
from archopt.models.resnet import scaled_widths
from archopt.search import (
    MAX_REDUCTION_RATE,
    SEARCH_COLUMNS,
    SEARCH_KINDS,
    candidate,
    paper_choices,
    rate_grid,
    resnet_params,
    rows_to_csv,
    search_all,
    search_budget,
    search_rows,
    search_techniques,
    searched_models,
)
from archopt.study import study_networks

PAPER_COUNTS = REPO / "resources/paper/param_counts.csv"


def built_params(name: str, dataset: str) -> int:
    """Parameters of the real module, built on the meta device (no memory, any width)."""
    with torch.device("meta"):
        return count_params(get_model(name, dataset))


# Every body type and scaling, plain and odd rates, both classifier sizes.
COUNT_CASES = [
    f"resnet{depth}{suffix}"
    for depth in (20, 56, 110)
    for suffix in ("", "-dsc", "-shift", "-shuffle", "-2.5", "-2.4_block")
] + [
    "resnet20-dsc-0.07", "resnet20-shift-0.93", "resnet20-shuffle-0.27", "resnet20-shuffle-0.31",
    "resnet56-shuffle-0.99", "resnet20-9.87", "resnet20-10", "resnet20-7.3_block",
    "resnet110-1.01_block", "resnet56-1.33",
]


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100"])
@pytest.mark.parametrize("name", COUNT_CASES)
def test_analytic_count_equals_the_built_model(name, dataset):
    assert resnet_params(name, dataset) == built_params(name, dataset)


@pytest.mark.parametrize("kind", SEARCH_KINDS)
def test_block_wise_counts_equal_the_built_models_across_the_grid(kind):
    techniques = search_techniques() if kind == "expand" else ["base"]
    for technique in techniques:
        for rate in rate_grid(kind, 0.01)[::29]:
            name = candidate(kind, 56, technique, rate).name
            assert resnet_params(name, "cifar100") == built_params(name, "cifar100"), name


def test_analytic_count_reproduces_the_paper_totals():
    assert resnet_params("resnet20", "cifar10") == 272762
    assert resnet_params("resnet56-shuffle-0.25", "cifar100") == 887652
    assert resnet_params("resnet20-2.4_block", "cifar10") == 41169


def test_analytic_count_refuses_other_families():
    with pytest.raises(ValueError, match="CIFAR ResNets only, not 'squeezenet'"):
        resnet_params("squeezenet", "cifar10")


def test_rate_grids_cover_the_documented_ranges():
    expand = rate_grid("expand", 0.01)
    reduce = rate_grid("reduce_channels", 0.01)
    assert expand[0] == 0.01 and expand[-1] == 0.99 and len(expand) == 99
    assert reduce[0] == 1.01 and reduce[-1] == MAX_REDUCTION_RATE and len(reduce) == 900
    # Decimal steps: every rate is the float its printed form parses to.
    assert all(float(format_rate(rate)) == rate for rate in expand + reduce)
    assert 0.29 in expand and 2.47 in reduce


@pytest.mark.parametrize("step", [0, 1, -0.1, 1.5])
def test_invalid_step_names_the_config_key(step):
    with pytest.raises(ValueError, match="search.step"):
        rate_grid("expand", step)


def brute_force(kind: str, depth: int, technique: str, dataset: str, step: float):
    """Build every candidate module and keep the closest; ties to the rate nearer 1."""
    target_name = f"resnet{depth}" if kind == "expand" else f"resnet{depth}-{technique}"
    target = built_params(target_name, dataset)
    best = None
    for rate in rate_grid(kind, step):
        name = {
            "expand": f"resnet{depth}-{technique}-{format_rate(rate)}",
            "reduce_channels": f"resnet{depth}-{format_rate(rate)}",
            "reduce_block": f"resnet{depth}-{format_rate(rate)}_block",
        }[kind]
        gap = abs(built_params(name, dataset) - target)
        if best is None or gap < best[0] or (gap == best[0] and abs(rate - 1) < abs(best[1] - 1)):
            best = (gap, rate, name)
    return best


@pytest.mark.parametrize("kind", SEARCH_KINDS)
@pytest.mark.parametrize("technique", search_techniques())
def test_search_on_resnet20_agrees_with_brute_force(kind, technique):
    step = 0.05 if kind == "expand" else 0.1  # coarse grids keep the brute force quick
    gap, rate, name = brute_force(kind, 20, technique, "cifar100", step)
    result = search_budget(kind, 20, technique, "cifar100", step)
    assert (result.model, result.factor) == (name, rate)
    assert abs(result.abs_gap) == gap


def test_ties_go_to_the_rate_closer_to_one():
    # resnet20-2.47 and resnet20-2.5 have the same widths (6/12/25): the same network.
    result = search_budget("reduce_channels", 20, "dsc", "cifar10")
    assert resnet_params("resnet20-2.5", "cifar10") == result.params
    assert result.model == "resnet20-2.47"
    assert resnet_params("resnet20-2.46", "cifar10") != result.params


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100"])
def test_every_search_is_at_least_as_close_as_the_paper(dataset):
    paper = paper_choices(PAPER_COUNTS, dataset)
    rows = search_rows(dataset, 0.01, paper)
    assert len(rows) == 27
    assert {(r["kind"], r["depth"], r["technique"]) for r in rows} == {
        (k, d, t) for k in SEARCH_KINDS for d in (20, 56, 110) for t in search_techniques()
    }
    with_paper = [r for r in rows if r["paper_model"]]
    assert len(with_paper) == 27  # Tables 5-12 name a network for every search
    for row in with_paper:
        assert abs(row["abs_gap"]) <= abs(row["paper_params"] - row["target_params"]), row
        assert row["rel_gap"] == pytest.approx(row["abs_gap"] / row["target_params"])


def test_paper_choices_take_the_technique_from_the_table():
    paper = paper_choices(PAPER_COUNTS, "cifar10")
    assert paper[("reduce_channels", 20, "dsc")] == "resnet20-2.5"
    assert paper[("reduce_block", 20, "shift")] == "resnet20-2.7_block"
    assert paper[("reduce_block", 110, "shuffle")] == "resnet110-3.5_block"
    assert paper[("expand", 56, "shift")] == "resnet56-shift-0.34"


def test_paper_choices_reject_a_table_without_its_optimized_net(tmp_path):
    table = tmp_path / "counts.csv"
    table.write_text("table,dataset,model,params_paper\n7,cifar10,ResNet20-2.5,41341\n")
    with pytest.raises(ValueError, match="table 7 does not name the one optimized ResNet20"):
        paper_choices(table, "cifar10")


def test_chosen_names_parse_back_to_the_searched_widths():
    for result in search_all("cifar10") + search_all("cifar100"):
        info = parse_name(result.model)
        assert info.name == result.model and info.factor == result.factor
        spec = resnet_spec(info)
        if result.kind == "reduce_block":
            assert spec.mid_rate == result.factor and spec.widths == (16, 32, 64)
        else:
            technique = result.technique if result.kind == "expand" else "base"
            assert spec.widths == scaled_widths(result.factor, technique)
        assert built_params(result.model, "cifar10") == resnet_params(result.model, "cifar10")


def test_candidate_names_refuse_rates_that_print_differently():
    with pytest.raises(ValueError, match="coarser 'search.step'"):
        candidate("reduce_channels", 20, "dsc", 1.0000001)


def test_searched_models_differ_per_dataset_and_join_the_study():
    cifar10, cifar100 = searched_models("cifar10"), searched_models("cifar100")
    assert "resnet20-dsc-0.36" in cifar10 and "resnet20-dsc-0.37" in cifar100
    assert len(cifar10) == len(set(cifar10))
    config = {"networks": None, "search": {"step": 0.01}, "gan": {"variants": []}}
    studied = study_networks(config, "cifar10")
    assert studied[:4] == ["squeezenet", "squeezenet-dsc", "squeezenet-shift", "squeezenet-shuffle"]
    assert set(cifar10) <= set(studied) and "resnet110-shuffle" in studied
    assert not any(name.startswith("pix2pix") for name in studied)
    coarse = study_networks(config | {"search": {"step": 0.1}}, "cifar10")
    assert "resnet20-shift-0.4" in coarse and "resnet20-shift-0.35" not in coarse


def test_csv_has_the_contract_columns():
    text = rows_to_csv(search_rows("cifar10", 0.01))
    rows = list(csv.DictReader(text.splitlines()))
    assert tuple(rows[0]) == SEARCH_COLUMNS
    assert rows[0]["kind"] == "expand" and rows[0]["paper_model"] == ""


@pytest.mark.slow
def test_search_rule_writes_the_table(workflow_copy):
    result = run_snakemake(workflow_copy, "results/search/cifar10.csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader((workflow_copy / "results/search/cifar10.csv").open()))
    assert len(rows) == 27
    by_key = {(r["kind"], r["depth"], r["technique"]): r for r in rows}
    shift = by_key["expand", "20", "shift"]
    assert shift["model"] == "resnet20-shift-0.35" and shift["paper_model"] == "resnet20-shift-0.35"
    assert shift["target_params"] == "272762" and int(shift["params"]) == 270101
    assert (workflow_copy / "logs/search/cifar10.log").exists()
