"""The registry every plugin kind shares (archopt.registry) and its use by each kind."""

from __future__ import annotations

import pytest

from archopt import datasets, posttrain, runtimes, techniques
from archopt.registry import Registry


class Holder:
    pass


class Other:
    pass


def test_a_taken_name_is_refused_naming_both_holders_and_nothing_changes() -> None:
    registry: Registry[object] = Registry("widget")
    first = registry.add("a", Holder())
    generation = registry.generation
    with pytest.raises(ValueError, match=r"widget 'a' is already registered by "
                                         r"test_registry\.Holder; test_registry\.Other cannot"):
        registry.add("a", Other())
    assert registry.get("a") is first
    assert registry.generation == generation


def test_lookups_list_the_registered_names_in_registration_order() -> None:
    registry: Registry[object] = Registry("widget")
    for name in ("zeta", "alpha"):
        registry.add(name, Holder())
    assert registry.names() == ["zeta", "alpha"]
    with pytest.raises(ValueError, match="unknown widget 'beta': registered widgets are zeta, alpha"):
        registry.get("beta")
    with pytest.raises(ValueError, match=r"config key 'w.list': unknown widget 'x', 'y'; "
                                         r"registered widgets: zeta, alpha"):
        registry.check_names(["alpha", "x", "y"], "w.list")
    registry.check_names(["alpha"], "w.list")


def test_removal_changes_the_generation_only_when_something_was_removed() -> None:
    registry: Registry[object] = Registry("widget")
    registry.add("a", Holder())
    generation = registry.generation
    registry.remove("missing")
    assert registry.generation == generation
    registry.remove("a")
    assert "a" not in registry and registry.generation == generation + 1
    registry.add("a", Other())  # the name is free again


@pytest.mark.parametrize("name", ["Upper", "with-hyphen", "1digit", "", None])
def test_names_are_checked_naming_where_they_come_from(name: object) -> None:
    with pytest.raises(ValueError, match=r"widget my\.Class: name .* must be lower-case"):
        Registry("widget").check_name(name, "my.Class")


def test_every_plugin_kind_is_one_shared_registry() -> None:
    kinds = {techniques.TECHNIQUES: ["dsc", "shift", "shuffle"],
             runtimes.RUNTIMES: ["eager", "inductor", "onnxruntime", "openvino"],
             datasets.DATASETS: ["cifar10", "cifar100", "maps"],
             posttrain.METHODS: ["int8", "prune"]}
    for registry, shipped in kinds.items():
        assert isinstance(registry, Registry)
        assert registry.names()[: len(shipped)] == shipped


def test_a_dataset_registered_twice_names_the_module_that_holds_it() -> None:
    cifar10 = datasets.get_dataset("cifar10")
    with pytest.raises(ValueError, match=r"dataset 'cifar10' is already registered by "
                                         r"archopt\.datasets\.cifar10; test_registry cannot"):
        datasets.register_dataset(cifar10)


def test_a_runtime_cannot_take_a_bench_file_header_key() -> None:
    class EnvRuntime(runtimes.Runtime):
        name = "env"

    with pytest.raises(ValueError, match=r"runtime .*EnvRuntime: name 'env' must be .* and not "
                                         r"'model', 'dataset', 'device'"):
        runtimes.register_runtime(EnvRuntime)
    assert "env" not in runtimes.list_runtimes()
