"""The technique registry: a technique defined here takes part like a shipped one."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch
from conftest import REPO
from torch import nn

from archopt.config import ConfigError, load_config
from archopt.models import count_params, get_model, list_models, parse_name
from archopt.models.registry import base_models
from archopt.plugins import PluginError, load_plugins
from archopt.report.analysis import scenario_title, scenarios, technique_label, technique_order
from archopt.report.figures import slot_offset
from archopt.search import rate_grid, resnet_params, search_all, search_budget, search_techniques
from archopt.techniques import (
    Technique,
    _unregister_technique,
    get_technique,
    list_techniques,
    register_technique,
)

NAME = "invres"


class InvertedResidual(Technique):
    """MobileNetV2-like: 1x1 expand x2, depthwise 3x3 (stride), 1x1 project; a fire hook."""

    name = NAME
    label = "InvRes"
    color = "#9467bd"
    width_multiple = 4

    def resnet_body(self, in_planes: int, out_planes: int, stride: int) -> nn.Module:
        mid = 2 * in_planes
        return nn.Sequential(
            nn.Conv2d(in_planes, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(),
            nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid),
            nn.ReLU(),
            nn.Conv2d(mid, out_planes, 1, bias=False), nn.BatchNorm2d(out_planes),
        )

    def fire(self, in_planes: int, squeeze: int, expand1x1: int, expand3x3: int) -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(in_planes, squeeze, 1), nn.ReLU(),
            nn.Conv2d(squeeze, expand1x1 + expand3x3, 3, padding=1, groups=squeeze),
        )


@pytest.fixture
def invres():
    register_technique(InvertedResidual)
    yield get_technique(NAME)
    _unregister_technique(NAME)


def meta_params(name: str, dataset: str = "cifar10") -> int:
    with torch.device("meta"):
        return count_params(get_model(name, dataset))


def test_shipped_techniques_in_report_order():
    assert [t.name for t in list_techniques()] == ["dsc", "shift", "shuffle"]
    assert all(t.families() == ["squeezenet", "resnet", "pix2pix"] for t in list_techniques())
    assert get_technique("shuffle").width_multiple == 2


def test_importing_the_registry_imports_no_torch():
    code = "import sys, archopt.techniques as t; t.get_technique('dsc'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_registered_technique_gets_its_networks(invres):
    names = list_models()
    assert {f"resnet{d}-{NAME}" for d in (20, 56, 110)} | {f"squeezenet-{NAME}"} <= set(names)
    assert f"pix2pix-{NAME}" not in base_models()  # no encoder_conv hook
    info = parse_name(f"ResNet20-{NAME}")
    assert (info.name, info.family, info.technique, info.depth) == (
        f"resnet20-{NAME}", "resnet", NAME, 20)
    with pytest.raises(ValueError, match="does not apply to pix2pix .*encoder_conv"):
        parse_name(f"pix2pix-{NAME}")


@pytest.mark.parametrize("name,classes", [(f"resnet20-{NAME}", 10), (f"squeezenet-{NAME}", 100)])
def test_get_model_builds_it(invres, name, classes):
    dataset = "cifar10" if classes == 10 else "cifar100"
    model = get_model(name, dataset).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, classes)


def test_expanded_widths_follow_its_width_multiple(invres):
    model = get_model(f"resnet20-{NAME}-0.7")
    assert model.spec.widths == (20, 44, 88)  # int(c / 0.7) = 22, 45, 91, down to a multiple of 4


def test_the_search_expands_it_to_the_base_budget_and_counts_the_built_modules(invres):
    assert NAME in search_techniques()
    result = search_budget("expand", 20, NAME, "cifar10", 0.05)
    assert result.target_params == meta_params("resnet20") == 272_762
    assert result.model.startswith(f"resnet20-{NAME}-")
    assert result.params == meta_params(result.model)
    gaps = {rate: abs(meta_params(f"resnet20-{NAME}-{rate:g}") - result.target_params)
            for rate in rate_grid("expand", 0.05)}
    assert abs(result.abs_gap) == min(gaps.values()) == gaps[result.factor]
    reduced = search_budget("reduce_channels", 20, NAME, "cifar10", 0.1)
    assert reduced.target_params == meta_params(f"resnet20-{NAME}")
    rows = search_all("cifar100", 0.1)
    assert {(r.kind, r.depth) for r in rows if r.technique == NAME} == {
        (k, d) for k in ("expand", "reduce_channels", "reduce_block") for d in (20, 56, 110)}


@pytest.mark.parametrize("rate", ["", "-0.33", "-0.9", "-0.05"])
@pytest.mark.parametrize("depth", [20, 56, 110])
def test_block_wise_counts_equal_the_built_network(invres, depth, rate):
    name = f"resnet{depth}-{NAME}{rate}"
    for dataset in ("cifar10", "cifar100"):
        assert resnet_params(name, dataset) == meta_params(name, dataset)


def test_the_report_derives_order_labels_and_offsets(invres):
    assert technique_order() == ("base", "dsc", "shift", "shuffle", NAME)
    assert technique_label(NAME) == "InvRes"
    assert scenarios()[-1] == f"reduced_{NAME}"
    assert scenario_title(f"reduced_{NAME}") == "Base nets reduced to the InvRes net's size"
    assert scenario_title("reduced_dsc").endswith("(paper Tables 7-8)")
    offsets = [slot_offset(t, technique_order()) for t in technique_order()]
    assert offsets == sorted(offsets) and offsets[0] == pytest.approx(-offsets[-1])
    assert max(offsets) - min(offsets) < 1  # the markers stay inside their group


def test_the_shipped_offsets_are_unchanged():
    order = technique_order()
    assert [slot_offset(t, order) for t in order] == pytest.approx([-0.27, -0.09, 0.09, 0.27])


def test_a_taken_name_is_refused_naming_it_and_both_classes(invres):
    class Again(InvertedResidual):
        pass

    with pytest.raises(ValueError, match=rf"'{NAME}' is already registered by .*InvertedResidual.*Again"):
        register_technique(Again)
    assert type(get_technique(NAME)) is InvertedResidual


@pytest.mark.parametrize("name", ["Bad", "base", "two-words", "9lives"])
def test_malformed_names_are_refused(name):
    cls = type("Odd", (InvertedResidual,), {"name": name})
    with pytest.raises(ValueError, match="name"):
        register_technique(cls)


def test_a_technique_without_hooks_is_refused():
    cls = type("Hookless", (Technique,), {"name": "hookless", "label": "Hookless"})
    with pytest.raises(ValueError, match="defines none of the hooks"):
        register_technique(cls)


PLUGIN = '''
from torch import nn
from archopt.techniques import Technique, register_technique

@register_technique
class Plain(Technique):
    name = "plainplug"
    label = "PlainPlug"

    def resnet_body(self, in_planes, out_planes, stride):
        return nn.Sequential(nn.Conv2d(in_planes, out_planes, 3, stride, 1, bias=False),
                             nn.BatchNorm2d(out_planes))
'''


@pytest.fixture
def plugin_file(tmp_path):
    path = tmp_path / "plainplug.py"
    path.write_text(textwrap.dedent(PLUGIN))
    yield path
    _unregister_technique("plainplug")


def test_load_plugins_imports_a_file_once(plugin_file):
    load_plugins([str(plugin_file), str(plugin_file)])
    assert get_technique("plainplug").label == "PlainPlug"
    assert "resnet56-plainplug" in list_models()


def test_load_plugins_names_a_plugin_that_fails(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(PluginError, match=r"plugin '.*broken.py' failed to load: RuntimeError: boom"):
        load_plugins([str(broken)])
    with pytest.raises(PluginError, match="plugin 'no_such_plugin_module'"):
        load_plugins(["no_such_plugin_module"])
    with pytest.raises(PluginError, match="no such file"):
        load_plugins([str(tmp_path / "absent.py")])


def test_load_plugins_names_a_duplicate(tmp_path):
    dup = tmp_path / "dup.py"
    dup.write_text(PLUGIN.replace('"plainplug"', '"shift"'))
    with pytest.raises(PluginError, match=r"plugin '.*dup.py'.*technique 'shift' is already registered"):
        load_plugins([str(dup)])


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "archopt.cli", *args], capture_output=True,
                          text=True, cwd=REPO, check=False)


def test_archopt_models_and_params_list_a_loaded_plugin(plugin_file):
    out = run_cli("models", "--format", "csv", "--plugin", str(plugin_file))
    assert out.returncode == 0, out.stderr
    rows = [line.split(",") for line in out.stdout.splitlines()]
    plugged = [r for r in rows if r[0].endswith("-plainplug")]
    assert [r[0] for r in plugged] == ["resnet20-plainplug", "resnet56-plainplug",
                                       "resnet110-plainplug"]
    assert all(r[2] == "plainplug" and int(r[6]) > 0 for r in plugged)  # technique, MACs
    params = run_cli("params", "--plugin", str(plugin_file), "resnet20-plainplug")
    # ResNet20 with a single 3x3 conv + BN per body: 272,762 minus 9 convs and BNs.
    assert params.stdout == "resnet20-plainplug\t126938\n"


def test_the_cli_reports_a_failing_plugin(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("import no_such_module\n")
    out = run_cli("models", "--plugin", str(broken))
    assert out.returncode == 2
    assert "broken.py' failed to load: ModuleNotFoundError" in out.stderr


def test_gan_variants_are_checked_against_the_registry(invres):
    config_yaml, schema = REPO / "config.yaml", REPO / "workflow/schemas/config.schema.yaml"
    config = load_config(config_yaml, schema, {"gan": {"variants": ["pix2pix-shift"]}})
    assert config["gan"]["variants"] == ["pix2pix-shift"]
    for bad in ("pix2pix-nope", f"pix2pix-{NAME}"):  # unknown; registered without encoder_conv
        with pytest.raises(ConfigError, match=f"'gan.variants': unknown generator '{bad}'"):
            load_config(config_yaml, schema, {"gan": {"variants": [bad]}})


# --- the Shuffle technique's channel shuffle in both memory formats ---------------------


@pytest.mark.parametrize("shape, groups", [((2, 12, 5, 7), 3), ((3, 32, 8, 8), 2), ((1, 16, 1, 1), 8)])
def test_channel_shuffle_is_identical_in_both_memory_formats(shape, groups):
    from archopt.models.layers import channel_shuffle

    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    plain = channel_shuffle(x, groups)
    last = channel_shuffle(x.contiguous(memory_format=torch.channels_last), groups)
    assert torch.equal(plain, last) and plain.is_contiguous()
    assert last.is_contiguous(memory_format=torch.channels_last)


def test_a_channels_last_shuffle_network_shuffles_without_leaving_channels_last():
    from archopt.models.layers import ChannelShuffle

    model = get_model("resnet20-shuffle").to(memory_format=torch.channels_last).eval()
    layouts = []
    for module in model.modules():
        if isinstance(module, ChannelShuffle) and module.groups > 1:
            module.register_forward_hook(
                lambda _, __, out: layouts.append(out.is_contiguous(memory_format=torch.channels_last))
            )
    with torch.no_grad():
        model(torch.randn(2, 3, 32, 32).contiguous(memory_format=torch.channels_last))
    assert layouts and all(layouts)
