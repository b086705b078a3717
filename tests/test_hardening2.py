"""Hostile and careless inputs, second round (issue 23), each through the real code path:
the device import (`archopt device import` on run_bench.py result files written here in
the runner's format), the config check, dataset downloads from 127.0.0.1 or file:// URLs
(real tar.gz archives), checkpoints written with torch.save, plugins imported by
Snakemake. The study server's cases are in test_perceptual_hardening2.py.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from fake_data import http_server, make_cifar_archive
from PIL import Image

from archopt.cli import main
from archopt.data.archive import ArchiveError, ArchiveLimits
from archopt.data.download import DownloadError, download_dataset
from archopt.data.manifest import read_manifest
from archopt.data.structure import StructureError
from archopt.datasets import _unregister_dataset, get_dataset, register_dataset
from archopt.device import run_bench
from archopt.names import DEVICE_NAME_MAX_LENGTH, reserved_device_names
from archopt.paths import ONNX_EXPORT, POSTTRAIN_ARTIFACTS, POSTTRAIN_FILES, device_result_path
from archopt.report.sources import ReportInputError, read_bench

NETWORKS = ("resnet20", "resnet20+int8")


# --- the device import: a study with two deployable files, and a runner's results ---------

def runtime_entry(seed: int) -> dict:
    """One runtime's object as run_bench.py writes it (its own statistics code)."""
    samples = np.random.default_rng(seed).integers(900_000, 1_100_000, size=50)
    run = {"samples_ns": samples, "outputs": np.zeros((4, 10), np.float32),
           "load_ms": 12.5, "first_ms": 2.0}
    return run_bench.summarize([run], np.zeros(4, int))


def make_study(root: Path) -> dict:
    """``root`` holding this study's deployable files (and a post-training summary.json);
    returns a results file's content measuring them, in run_bench.py's format."""
    networks = {}
    for index, network in enumerate(NETWORKS):
        model = root / device_result_path("cifar10", network, "cpu").replace("cpu.json",
                                                                               "model.onnx")
        model.parent.mkdir(parents=True, exist_ok=True)
        model.write_bytes(f"onnx bytes of {network}".encode())
        networks[f"cifar10/{network}"] = {
            "dataset": "cifar10", "network": network, "kind": "fp32", "images": 4,
            "sha256": hashlib.sha256(model.read_bytes()).hexdigest(),
            "onnxruntime": runtime_entry(index)}
    (model.parent / POSTTRAIN_FILES["summary"]).write_text('{"model": "resnet20+int8"}\n')
    return {"format": run_bench.RESULTS_FORMAT, "version": run_bench.FORMAT_VERSION,
            "bundle": "0" * 64, "complete": True,
            "settings": {"threads": 1, "warmup": 10, "min_queries": 0, "min_duration_s": 0,
                         "repeats": 1, "runtimes": ["onnxruntime"]},
            "env": {"cpu_model": "test cpu", "architecture": "x86_64", "os": "Linux"},
            "networks": networks}


def import_device(root: Path, results: dict | str, name: str, capsys) -> tuple[int, str]:
    """`archopt device import` of ``results`` (an object, or the file's text): (code, stderr)."""
    path = root / "results.json"
    path.write_text(results if isinstance(results, str) else json.dumps(results))
    code = main(["device", "import", str(path), "--name", name, "--root", str(root)])
    return code, capsys.readouterr().err


def written(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.json")
                  if p.name not in ("results.json", "summary.json"))


def test_a_valid_results_file_is_imported(tmp_path, capsys):
    code, error = import_device(tmp_path, make_study(tmp_path), "rpi4", capsys)
    assert code == 0, error
    assert written(tmp_path) == [device_result_path("cifar10", n, "rpi4") for n in NETWORKS]


# --- item 3: device names that would overwrite study results ------------------------------

@pytest.mark.parametrize(("name", "clash"), [
    ("summary", "summary.json"), ("model", "model.onnx"), ("cpu", "local device 'cpu'"),
    ("cuda", "local device 'cuda'"), ("artifacts", "artifacts"),
    ("device", "runtime registry reserves")])
def test_a_device_name_clashing_with_a_file_archopt_writes_is_refused(tmp_path, capsys, name,
                                                                       clash):
    """`--name summary` replaced a post-training summary.json with a bench record."""
    results = make_study(tmp_path)
    summary = tmp_path / device_result_path("cifar10", "resnet20+int8", "summary")
    before = summary.read_text()
    code, error = import_device(tmp_path, results, name, capsys)
    assert code == 2 and f"device name {name!r} clashes with" in error and clash in error, error
    assert summary.read_text() == before and written(tmp_path) == []


def test_the_reserved_device_names_follow_the_paths_archopt_writes():
    reserved = reserved_device_names()
    for file_name in [*POSTTRAIN_FILES.values(), Path(ONNX_EXPORT).name, POSTTRAIN_ARTIFACTS]:
        assert file_name.split(".")[0] in reserved, file_name


# --- item 5: impossible numbers and reserved runtime names ----------------------------------

def edited(results: dict, change) -> dict:
    results = copy.deepcopy(results)
    change(results, results["networks"]["cifar10/resnet20"]["onnxruntime"])
    return results


def rename_runtime(results: dict, name: str) -> None:
    results["settings"]["runtimes"] = [name]
    for entry in results["networks"].values():
        entry[name] = entry.pop("onnxruntime")


@pytest.mark.parametrize(("change", "expected"), [
    (lambda r, e: e.update(median_ms="NaN"), "median_ms: 'NaN' is not of type 'number'"),
    (lambda r, e: e.update(median_ms=-1.5), "median_ms: -1.5 is less than the minimum of 0"),
    (lambda r, e: e.update(p99_ms="fast"), "p99_ms: 'fast' is not of type 'number'"),
    (lambda r, e: e.update(n=1.5), "n: 1.5 is not of type 'integer'"),
    (lambda r, e: e.update(repeats=0), "repeats: 0 is less than the minimum of 1"),
    (lambda r, e: rename_runtime(r, "model"), "'model' is a reserved name"),
    (lambda r, e: rename_runtime(r, "dataset"), "'dataset' is a reserved name"),
    (lambda r, e: r["networks"]["cifar10/resnet20"].update(images=-4), "images: -4 is less"),
], ids=["nan-string", "negative", "string", "fractional-n", "repeats-0", "runtime-model",
        "runtime-dataset", "images"])
def test_impossible_numbers_and_reserved_runtime_names_are_refused(tmp_path, capsys, change,
                                                                   expected):
    code, error = import_device(tmp_path, edited(make_study(tmp_path), change), "rpi4", capsys)
    assert code == 2 and expected in error, error
    assert written(tmp_path) == []


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_json_numbers_are_refused(tmp_path, capsys, literal):
    """Python's json reads NaN and Infinity (and 1e999 as infinity) by default."""
    text = json.dumps(make_study(tmp_path)).replace('"median_ms": ', f'"median_ms": {literal}, '
                                                    '"was_median_ms": ', 1)
    code, error = import_device(tmp_path, text, "rpi4", capsys)
    assert code == 2 and "not a run_bench.py results file" in error, error
    assert "not a number" in error or "not a finite number" in error, error
    assert written(tmp_path) == []


# --- item 6: names from the results file are data, not path parts ---------------------------

def test_a_dataset_name_climbing_out_of_the_root_is_refused(tmp_path, capsys):
    """dataset "../../../victimdir" wrote dev1.json outside --root (given the SHA-256 of a
    model.onnx there)."""
    root = tmp_path / "study"
    results = make_study(root)
    victim = tmp_path / "victimdir" / "x"
    victim.mkdir(parents=True)
    (victim / "model.onnx").write_bytes(b"victim's file")
    entry = {**results["networks"]["cifar10/resnet20"], "dataset": "../../../victimdir",
             "network": "x", "sha256": hashlib.sha256(b"victim's file").hexdigest()}
    results["networks"] = {"../../../victimdir/x": entry}
    code, error = import_device(root, results, "dev1", capsys)
    assert code == 2 and "dataset '../../../victimdir'" in error, error
    assert not list(tmp_path.rglob("dev1.json"))


@pytest.mark.parametrize("network", ["../resnet20", "resnet20/../../x", "resnet20+../../x"])
def test_a_network_name_with_path_parts_is_refused(tmp_path, capsys, network):
    results = make_study(tmp_path)
    entry = {**results["networks"]["cifar10/resnet20"], "network": network}
    results["networks"] = {f"cifar10/{network}": entry}
    code, error = import_device(tmp_path, results, "dev1", capsys)
    assert code == 2 and "not a network name of this study" in error, error
    assert not list(tmp_path.rglob("dev1.json"))


# --- item 8: raw errors where a named one is promised ---------------------------------------

def test_deeply_nested_json_is_a_named_error_in_the_import(tmp_path, capsys):
    code, error = import_device(tmp_path, "[" * 100_000, "rpi4", capsys)
    assert code == 2 and "nested too deeply" in error and "results.json" in error, error


def test_deeply_nested_json_is_a_named_error_in_the_reports_bench_reader(tmp_path):
    path = tmp_path / "cpu.json"
    path.write_text('{"model": ' + "[" * 100_000)
    with pytest.raises(ReportInputError, match=r"cpu.json: not valid JSON \(nested too deeply"):
        read_bench(path)


def test_a_300_character_device_name_is_a_named_error(tmp_path, capsys):
    code, error = import_device(tmp_path, make_study(tmp_path), "a" * 300, capsys)
    assert code == 2 and f"at most {DEVICE_NAME_MAX_LENGTH}" in error, error
    assert "Traceback" not in error and written(tmp_path) == []


# --- item 12: config values that make no sense ---------------------------------------------

REPO = Path(__file__).resolve().parents[1]


def load(overrides: dict) -> dict:
    from archopt.config import load_config

    return load_config(REPO / "config.yaml", REPO / "workflow/schemas/config.schema.yaml",
                       overrides)


@pytest.mark.parametrize(("overrides", "key", "value"), [
    ({"train": {"seeds": [0, 0]}}, "train.seeds", "0"),
    ({"train": {"grid": {"lr": [0.1, 0.01, 0.1], "batch_size": [128]}}}, "train.grid.lr", "0.1"),
    ({"train": {"grid": {"lr": [0.1], "batch_size": [128, 128]}}}, "train.grid.batch_size",
     "128"),
    ({"gan": {"variants": ["pix2pix-dsc", "pix2pix-dsc"]}}, "gan.variants", "'pix2pix-dsc'"),
    ({"bench": {"runtimes": ["eager", "eager"]}}, "bench.runtimes", "'eager'"),
    ({"bench": {"devices": ["cpu", "cpu"]}}, "bench.devices", "'cpu'"),
    ({"networks": ["resnet20", "resnet20"]}, "networks", "'resnet20'"),
    ({"plugins": ["x.py", "x.py"]}, "plugins", "'x.py'"),
], ids=lambda value: value if isinstance(value, str) else None)
def test_a_repeated_list_entry_is_refused_naming_the_key_and_value(overrides, key, value):
    with pytest.raises(ValueError) as error:
        load(overrides)
    assert f"config key '{key}': {value} appears more than once" in str(error.value)


@pytest.mark.parametrize("epochs", [1e29, 10_001])
def test_max_epochs_beyond_the_documented_maximum_is_refused(epochs):
    """1e29 passed (JSON Schema's integer takes a float without fraction) and only warned."""
    with pytest.raises(ValueError, match=r"'train.max_epochs': .* greater than the maximum of "
                                         r"10000"):
        load({"train": {"max_epochs": epochs}})


def test_max_epochs_at_the_maximum_is_accepted():
    assert load({"train": {"max_epochs": 10_000}})["train"]["max_epochs"] == 10_000


@pytest.mark.parametrize(("devices", "expected"), [
    ([{"name": "summary", "results": "r.json"}],
     "'bench.external_devices.0.name' 'summary' clashes with summary.json"),
    ([{"name": "model", "results": "r.json"}],
     "'bench.external_devices.0.name' 'model' clashes with model.onnx"),
    ([{"name": "x" * 65, "results": "r.json"}], "is 65 characters long; at most 64"),
    ([{"name": "rpi4", "results": "a.json"}, {"name": "rpi4", "results": "b.json"}],
     "'bench.external_devices.1.name': device 'rpi4' appears more than once"),
], ids=["summary", "model", "long", "twice"])
def test_external_device_names_that_clash_are_refused_by_the_config_check(devices, expected):
    with pytest.raises(ValueError) as error:
        load({"bench": {"external_devices": devices}})
    assert expected in str(error.value)


# --- item 10: a plugin whose import ends with SystemExit ------------------------------------

@pytest.mark.parametrize(("code", "shown"), [("sys.exit(0)", "sys.exit(0)"),
                                             ("sys.exit('bye')", "sys.exit('bye')"),
                                             ("raise GeneratorExit", "GeneratorExit")])
def test_a_plugin_ending_its_import_stops_the_workflow_naming_it(tmp_path, code, shown):
    from conftest import copy_workflow, run_snakemake

    workdir = copy_workflow(tmp_path / "wf")
    (workdir / "quitter.py").write_text(f"import sys\n{code}\n")
    (workdir / "plugin.yaml").write_text("plugins: [quitter.py]\n")
    result = run_snakemake(workdir, "-n", "all", "--configfile", "plugin.yaml", timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-2000:]
    assert "plugin 'quitter.py' failed to load" in output and shown in output, output[-2000:]


def test_load_plugins_turns_system_exit_into_a_plugin_error(tmp_path):
    from archopt.plugins import PluginError, load_plugins

    plugin = tmp_path / "quits.py"
    plugin.write_text("raise SystemExit(3)\n")
    with pytest.raises(PluginError, match=r"plugin '.*quits.py' failed to load: it called "
                                          r"sys.exit\(3\)"):
        load_plugins([str(plugin)])


# --- items 4, 7, 8: downloads and extraction ------------------------------------------------

def tar_of(archive: Path, members: dict[str, bytes | None]) -> Path:
    """A .tar.gz of ``{name: file content, or None for a folder}``, in this order."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            if content is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return archive


def jpeg_pair(height: int = 8) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (2 * height, height), (40, 80, 120)).save(out, format="JPEG")
    return out.getvalue()


def maps_members(n_train: int = 2, n_val: int = 2) -> dict[str, bytes | None]:
    members: dict[str, bytes | None] = {"maps": None, "maps/train": None, "maps/val": None}
    members |= {f"maps/train/{i}.jpg": jpeg_pair() for i in range(1, n_train + 1)}
    members |= {f"maps/val/{i}.jpg": jpeg_pair() for i in range(1, n_val + 1)}
    return members


def nothing_left(dataset_dir: Path) -> list[str]:
    """Partial downloads, temporary extractions, refused archives left behind."""
    return sorted(p.name for p in dataset_dir.iterdir()
                  if p.name.endswith(".part") or p.name.startswith(".extract-")
                  or p.suffix == ".gz")


def download_maps(tmp_path: Path, members: dict[str, bytes | None], dataset: str = "maps"):
    archive = tar_of(tmp_path / "served" / "maps.tar.gz", members)
    dataset_dir = tmp_path / "resources" / dataset
    return download_dataset(dataset, dataset_dir, archive.as_uri(), None), dataset_dir


def test_a_member_the_dataset_does_not_define_is_refused_before_extraction(tmp_path):
    """maps/padding.bin (300 MB of zeros) was extracted next to the pairs and kept."""
    members = maps_members() | {"maps/padding.bin": bytes(1000)}
    with pytest.raises(ArchiveError, match=r"member 'maps/padding.bin': not a file or folder "
                                           r"of this dataset"):
        download_maps(tmp_path, members)
    dataset_dir = tmp_path / "resources" / "maps"
    assert not list(dataset_dir.rglob("padding.bin")) and nothing_left(dataset_dir) == []


def test_an_archive_packed_from_inside_its_folder_is_accepted(tmp_path):
    """`tar -C folder -czf maps.tar.gz .` names every member ./... and adds ./ itself."""
    members = {"./": None} | {f"./{name}": content for name, content in maps_members().items()}
    manifest, dataset_dir = download_maps(tmp_path, members)
    assert manifest["counts"] == {"train": 2, "val": 2}
    assert sorted(p.name for p in (dataset_dir / "maps").iterdir()) == ["train", "val"]


def test_more_members_than_the_dataset_can_have_are_refused(tmp_path):
    """20,000 junk files were accepted: the structure check ignored what it did not expect."""
    limits = get_dataset("maps").archive
    members = maps_members(n_train=limits.max_members, n_val=0)
    with pytest.raises(ArchiveError, match=rf"more than {limits.max_members} members"):
        download_maps(tmp_path, members)
    dataset_dir = tmp_path / "resources" / "maps"
    assert not (dataset_dir / "maps").exists() and nothing_left(dataset_dir) == []


@pytest.fixture
def small_maps():
    """A plugin dataset laid out like maps, whose archive may hold at most 64 KiB."""
    maps = get_dataset("maps")
    limits = ArchiveLimits(maps.archive.members, maps.archive.max_members, max_bytes=64 << 10)
    register_dataset(dataclasses.replace(maps, name="smallmaps", archive=limits))
    yield "smallmaps"
    _unregister_dataset("smallmaps")


def test_more_bytes_than_the_dataset_can_be_are_refused_before_extraction(tmp_path, small_maps):
    """A 10 MB archive unpacked to 300 MB; the declared sizes are summed on the index."""
    members = maps_members() | {"maps/train/3.jpg": bytes(100 << 10)}  # zeros, 100 KiB
    with pytest.raises(ArchiveError, match=r"more than 0.0625 MiB once extracted \(at member "
                                           r"'maps/train/3.jpg'\)"):
        download_maps(tmp_path, members, small_maps)
    dataset_dir = tmp_path / "resources" / small_maps
    assert not (dataset_dir / "maps").exists() and nothing_left(dataset_dir) == []


def test_a_full_disk_while_downloading_is_named_and_leaves_no_part(tmp_path):
    """A stream filling the disk was reported as "Without network access on this machine"."""
    archive = tar_of(tmp_path / "served" / "maps.tar.gz", maps_members())
    dataset_dir = tmp_path / "resources" / "maps"
    dataset_dir.mkdir(parents=True)
    # Writes through this link fail as on a full disk: ENOSPC from /dev/full.
    (dataset_dir / "maps.tar.gz.part").symlink_to("/dev/full")
    with pytest.raises(DownloadError, match=r"disk full: could not write .*maps.tar.gz.part "
                                            r"\(No space left on device\)"):
        download_dataset("maps", dataset_dir, archive.as_uri(), None)
    assert nothing_left(dataset_dir) == [] and Path("/dev/full").exists()


@pytest.mark.parametrize("ending", ["%2e%2e", "%2E%2E", ".."])
def test_a_url_ending_in_dot_dot_is_refused_before_touching_files(tmp_path, ending):
    """The archive name became "..": the verified dataset's manifest was deleted, a raw
    OSError raised and a .part left."""
    served = tmp_path / "served"
    _, md5 = make_cifar_archive(served, "cifar10", n_train=20, n_test=10)
    dataset_dir = tmp_path / "resources" / "cifar10"
    with http_server(served) as url:
        download_dataset("cifar10", dataset_dir, f"{url}/cifar-10-python.tar.gz", md5)
        before = sorted(p.name for p in (tmp_path / "resources").rglob("*"))
        with pytest.raises(DownloadError, match=r"ends with '\.\.', which is not a file name"):
            download_dataset("cifar10", dataset_dir, f"{url}/cifar10/{ending}", md5)
    assert sorted(p.name for p in (tmp_path / "resources").rglob("*")) == before
    assert read_manifest(dataset_dir)["verified"]


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose header (SOF0) claims ``width x height`` pixels."""
    data = bytearray(jpeg_pair())
    sof = data.index(b"\xff\xc0")  # marker, length (2), precision (1), height, width
    data[sof + 5: sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


def test_a_decompression_bomb_is_named_by_its_member_and_leaves_no_part(tmp_path):
    """A header claiming 1.8 Gpx raised Pillow's DecompressionBombError, without the
    member's name, and left the archive's .part."""
    members = maps_members() | {"maps/train/1.jpg": jpeg_claiming(60_000, 30_000)}
    with pytest.raises(StructureError, match=r"member maps/train/1.jpg: refused: Image size "
                                             r"\(1800000000 pixels\)"):
        download_maps(tmp_path, members)
    dataset_dir = tmp_path / "resources" / "maps"
    assert nothing_left(dataset_dir) == [] and not (dataset_dir / "maps").exists()


# --- item 8: checkpoints whose fields have the wrong type ------------------------------------

@pytest.mark.parametrize(("field", "value", "expected"), [
    ("model", 123, "field 'model' must be of type str, got int 123"),
    ("dataset", ["cifar10"], "field 'dataset' must be of type str, got list ['cifar10']"),
    ("epoch", "3", "field 'epoch' must be of type int, got str '3'"),
    ("val_top1", None, "field 'val_top1' must be of type int or float, got NoneType"),
])
def test_a_checkpoint_field_of_the_wrong_type_is_a_named_error(tmp_path, field, value,
                                                               expected):
    import torch

    from archopt.train.checkpoint import CheckpointError, load_weights

    path = tmp_path / "best.pt"
    checkpoint = {"model": "resnet20", "dataset": "cifar10", "state_dict": {}, "epoch": 1,
                  "val_top1": 10.0, field: value}
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointError) as error:
        load_weights(path)
    assert str(path) in str(error.value) and expected in str(error.value)
