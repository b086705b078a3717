"""The registry every plugin kind shares (archopt.registry) and its use by each kind."""

from __future__ import annotations

import dataclasses

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


def test_registry_modules_import_none_of_their_plugins() -> None:
    """The shipped plugins load on the first lookup, through the plugin loader, not as a
    side effect of importing the registry (the cycle package -> plugin -> package)."""
    import subprocess
    import sys

    code = ("import sys, archopt.techniques, archopt.runtimes, archopt.datasets, "
            "archopt.posttrain\n"
            "kinds = ('techniques', 'runtimes', 'datasets', 'posttrain')\n"
            "print(sorted(m for m in sys.modules if m.split('.')[1:2] and "
            "m.split('.')[1] in kinds and m.count('.') == 2))\n"
            "archopt.techniques.technique_names()\n"
            "print(sorted(m for m in sys.modules if m.startswith('archopt.techniques.')))")
    lines = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout.splitlines()
    assert lines == ["[]", str(sorted(techniques.TECHNIQUES.shipped))]


def test_shipped_entries_come_first_in_shipped_order_whichever_module_is_imported_first() -> None:
    import subprocess
    import sys

    code = ("import archopt.runtimes.openvino, archopt.runtimes as r; print(r.list_runtimes())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == str(["eager", "inductor", "onnxruntime", "openvino"])


def test_a_registry_loads_its_shipped_plugins_once_on_first_use(tmp_path, monkeypatch) -> None:
    (tmp_path / "widgets.py").write_text(
        "from archopt.registry import Registry\n"
        "WIDGETS = Registry('widget', shipped=('shipped_widget',))\n")
    (tmp_path / "shipped_widget.py").write_text(
        "from widgets import WIDGETS\nWIDGETS.add('shipped', object())\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    from widgets import WIDGETS

    WIDGETS.add("mine", Other())  # a plugin's entry, added before any lookup
    assert WIDGETS.names() == ["shipped", "mine"]
    WIDGETS.remove("shipped")
    assert WIDGETS.names() == ["mine"]  # loaded once, not again


def test_no_technique_imports_a_network_family() -> None:
    """Techniques build from archopt.models.layers; the families import the technique
    registry, so a technique importing a family would close a loop between the two."""
    import ast
    from pathlib import Path

    families = {"archopt.models.resnet", "archopt.models.squeezenet", "archopt.models.pix2pix",
                "archopt.models.registry"}
    found = []
    for path in Path(techniques.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module in families:
                found.append(f"{path.name}: {node.module}")
            elif isinstance(node, ast.Import):
                found += [f"{path.name}: {a.name}" for a in node.names if a.name in families]
    assert not found


def test_a_dataset_measured_by_a_metric_the_report_cannot_show_is_refused() -> None:
    glyphs = dataclasses.replace(datasets.get_dataset("cifar10"), name="glyphs",
                                 primary_metric="f1")
    with pytest.raises(ValueError, match=r"dataset 'glyphs': primary_metric 'f1' is not one "
                                         r"of \('top1', 'top5'\)"):
        datasets.register_dataset(glyphs)
    assert "glyphs" not in datasets.dataset_names()
