"""Downloads of archives that are not what they claim: links, web pages, missing files, HTTP
errors, a broken manifest, a failed re-download next to a dataset that works, and a verified
dataset in place that a rerun keeps.

Every archive is built here in the real tar.gz format and fetched through the real download
code, from 127.0.0.1 or a file:// URL.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from fake_data import (
    http_server,
    make_cifar_archive,
    make_maps_archive,
    make_tar,
    md5_of,
    write_cifar_folder,
    write_cifar_tree,
    write_maps_tree,
)

from archopt.cli import main
from archopt.data.archive import ArchiveError
from archopt.data.download import DownloadError, download_dataset
from archopt.data.manifest import read_manifest
from archopt.data.status import dataset_status
from archopt.data.structure import StructureError

CIFAR = "cifar-10-python.tar.gz"


def status_json(root: Path, capsys) -> dict:
    assert main(["datasets", "--root", str(root), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def dir_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- 1. links in an archive ---------------------------------------------------------------------


def test_maps_archive_whose_top_folder_links_to_the_archive_root_is_refused(tmp_path, capsys):
    tree = write_maps_tree(tmp_path / "tree", n_train=3, n_val=2, height=16)
    served = tmp_path / "served"
    make_tar(
        served / "maps.tar.gz",
        {"train": tree / "train", "val": tree / "val"},
        symlinks={"maps": "."},
    )
    with http_server(served) as url, pytest.raises(ArchiveError) as error:
        download_dataset("maps", tmp_path / "resources" / "maps", f"{url}/maps.tar.gz", None)
    assert "member 'maps': symbolic link" in str(error.value)
    assert dir_names(tmp_path / "resources" / "maps") == [".lock"]  # unverified: not kept
    assert status_json(tmp_path / "resources", capsys)["maps"]["status"] == "missing"


@pytest.mark.parametrize(
    "layout, member",
    [
        ("top folder links to a sibling", "cifar-10-batches-py"),
        ("batch file links outside its folder", "cifar-10-batches-py/data_batch_1"),
        ("batch file is a hard link", "cifar-10-batches-py/data_batch_2"),
    ],
)
def test_cifar_archive_with_a_link_is_refused_even_when_its_md5_matches(tmp_path, layout, member):
    real = write_cifar_folder(tmp_path / "tree", "cifar10", n_train=20, n_test=10)
    top = "cifar-10-batches-py"
    if layout == "top folder links to a sibling":
        contents, links, hard = {"real": real}, {top: "real"}, {}
    elif layout == "batch file links outside its folder":
        side = tmp_path / "side"
        side.mkdir()
        shutil.move(real / "data_batch_1", side / "data_batch_1")
        contents, links, hard = {top: real, "side": side}, {member: "../side/data_batch_1"}, {}
    else:
        (real / "data_batch_2").unlink()
        contents, links, hard = {top: real}, {}, {member: f"{top}/data_batch_1"}
    archive, md5 = make_tar(tmp_path / "served" / CIFAR, contents, links, hard)
    dataset_dir = tmp_path / "resources" / "cifar10"
    with pytest.raises(ArchiveError, match=f"member {member!r}: (symbolic|hard) link"):
        download_dataset("cifar10", dataset_dir, archive.as_uri(), md5)
    assert read_manifest(dataset_dir) is None
    assert not (dataset_dir / top).exists() and not (dataset_dir / top).is_symlink()


@pytest.mark.parametrize("target", [".", "gone", "../outside"])
def test_a_link_left_in_place_by_an_earlier_run_is_removed_not_followed(tmp_path, target, capsys):
    resources = tmp_path / "resources"
    dataset_dir = resources / "maps"
    dataset_dir.mkdir(parents=True)
    outside = resources / "outside"  # what "../outside" points to: must survive
    write_maps_tree(outside, n_train=1, n_val=1, height=16)
    os.symlink(target, dataset_dir / "maps")
    os.symlink(outside, dataset_dir / ".extract-old")  # a leftover "temporary extraction"
    archive, _ = make_maps_archive(tmp_path / "served", n_train=4, n_val=2, height=16)
    with http_server(archive.parent) as url:
        manifest = download_dataset("maps", dataset_dir, f"{url}/maps.tar.gz", None)
    assert manifest["counts"] == {"train": 4, "val": 2}
    folder = dataset_dir / "maps"
    assert folder.is_dir() and not folder.is_symlink()
    assert not (dataset_dir / ".extract-old").is_symlink()
    assert len(list((outside / "maps" / "train").iterdir())) == 1
    assert status_json(resources, capsys)["maps"]["status"] == "ok"


# --- 2. messages that point somewhere -----------------------------------------------------------


def test_a_missing_batch_file_is_named_as_member_of_the_archive_at_its_url(tmp_path):
    folder = write_cifar_folder(tmp_path / "tree", "cifar10", n_train=20, n_test=10)
    (folder / "data_batch_3").unlink()
    archive, md5 = make_tar(tmp_path / "served" / CIFAR, {folder.name: folder})
    with http_server(archive.parent) as url, pytest.raises(StructureError) as error:
        download_dataset("cifar10", tmp_path / "cifar10", f"{url}/{CIFAR}", md5)
    message = str(error.value)
    assert f"{url}/{CIFAR}" in message
    assert "member cifar-10-batches-py/data_batch_3" in message and "missing" in message
    assert ".extract-" not in message


def test_a_url_ending_in_a_slash_is_refused_as_not_an_archive(tmp_path):
    requests = []
    with http_server(tmp_path, requests) as url, pytest.raises(DownloadError) as error:
        download_dataset("maps", tmp_path / "maps", f"{url}/", None)
    message = str(error.value)
    assert f"{url}/" in message and "not an archive" in message and "datasets.maps.url" in message
    assert requests == []


@pytest.mark.parametrize("name", ["maps", "manifest.json"])
def test_a_url_whose_file_name_is_taken_in_the_dataset_folder_is_refused(tmp_path, name):
    archive, _ = make_maps_archive(tmp_path / "served", n_train=2, n_val=1, height=16)
    archive.rename(archive.with_name(name))
    with pytest.raises(DownloadError, match=f"ends with {name!r}.*datasets.maps.url"):
        download_dataset("maps", tmp_path / "maps", archive.with_name(name).as_uri(), None)


@pytest.mark.parametrize("md5", [None, "0" * 32])
def test_a_web_page_instead_of_an_archive_says_what_was_received(tmp_path, md5):
    served = tmp_path / "served"
    (served / "listing").mkdir(parents=True)  # GET /listing redirects to its HTML listing
    with http_server(served) as url, pytest.raises(DownloadError) as error:
        download_dataset("maps", tmp_path / "resources" / "maps", f"{url}/listing", md5)
    message = str(error.value)
    assert "not an archive" in message and "text/html" in message and "HTML" in message
    assert "truncated" not in message
    assert dir_names(tmp_path / "resources" / "maps") == [".lock"]


def test_an_html_page_with_an_archive_name_is_refused_by_its_first_bytes(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    (served / "maps.tar.gz").write_text("<!DOCTYPE html>\n<html><body>Please log in</body></html>")
    with pytest.raises(DownloadError) as error:
        download_dataset("maps", tmp_path / "maps", (served / "maps.tar.gz").as_uri(), None)
    message = str(error.value)
    assert "not an archive" in message and "<!DOCTYPE html>" in message


def test_http_404_names_the_status_and_the_url_not_the_network(tmp_path):
    with http_server(tmp_path) as url, pytest.raises(DownloadError) as error:
        download_dataset("cifar10", tmp_path / "cifar10", f"{url}/{CIFAR}", "a" * 32)
    message = str(error.value)
    assert "HTTP 404" in message and f"{url}/{CIFAR}" in message
    assert "datasets.cifar10.url" in message
    assert "network" not in message.lower()


def test_a_missing_file_url_names_the_file_not_the_network(tmp_path):
    url = (tmp_path / CIFAR).as_uri()
    with pytest.raises(DownloadError) as error:
        download_dataset("cifar10", tmp_path / "cifar10", url, "a" * 32)
    message = str(error.value)
    assert str(tmp_path / CIFAR) in message and "does not exist" in message
    assert "network" not in message.lower()


def test_a_manifest_that_is_a_folder_is_reported_as_corrupt(tmp_path, capsys):
    write_cifar_tree(tmp_path, "cifar10", 20, 10)
    manifest = tmp_path / "cifar10" / "manifest.json"
    manifest.unlink()
    manifest.mkdir()
    report = status_json(tmp_path, capsys)["cifar10"]
    assert report["status"] == "corrupt"
    assert str(manifest) in report["problem"] and "directory" in report["problem"]
    assert main(["datasets", "--root", str(tmp_path)]) == 0  # the table too
    assert "cifar10: " in capsys.readouterr().out


def test_a_manifest_folder_does_not_block_a_download(tmp_path):
    archive, md5 = make_cifar_archive(tmp_path / "served", "cifar10", n_train=20, n_test=10)
    (tmp_path / "cifar10" / "manifest.json").mkdir(parents=True)
    manifest = download_dataset("cifar10", tmp_path / "cifar10", archive.as_uri(), md5)
    assert read_manifest(tmp_path / "cifar10") == manifest


# --- 3. a failed re-download keeps the dataset that works ---------------------------------------


def break_served_archive(served: Path, failure: str) -> tuple[str, type[Exception]]:
    """Make the next download fail as ``failure``; returns the new MD5 and the error."""
    if failure == "checksum mismatch":
        return "f" * 32, DownloadError
    if failure == "HTTP 404":
        (served / CIFAR).unlink()
        return "f" * 32, DownloadError
    # Verified by its MD5, refused for its members (CIFAR-10 defines no cifar-100-python/):
    # a CIFAR-100 archive under the name.
    archive, md5 = make_cifar_archive(served / "new", "cifar100", n_train=10, n_test=5)
    archive.rename(served / CIFAR)
    return md5, ArchiveError


@pytest.mark.parametrize("failure", ["checksum mismatch", "HTTP 404", "wrong layout"])
def test_a_failed_redownload_after_an_md5_change_keeps_the_verified_dataset(tmp_path, failure):
    served = tmp_path / "served"
    _, old_md5 = make_cifar_archive(served, "cifar10", n_train=30, n_test=10)
    dataset_dir = tmp_path / "resources" / "cifar10"
    with http_server(served) as url:
        before = download_dataset("cifar10", dataset_dir, f"{url}/{CIFAR}", old_md5)
        new_md5, error = break_served_archive(served, failure)
        with pytest.raises(error):
            download_dataset("cifar10", dataset_dir, f"{url}/{CIFAR}", new_md5)
    assert read_manifest(dataset_dir) == before
    status = dataset_status("cifar10", dataset_dir.parent)
    assert status["status"] == "ok" and status["verified"] and status["train"] == 30
    assert not [p for p in dataset_dir.iterdir() if p.name.startswith(".extract-")]
    if failure != "wrong layout":  # nothing verified arrived: the old archive is kept too
        assert md5_of(dataset_dir / CIFAR) == old_md5


def test_a_failed_unverified_redownload_keeps_the_maps_dataset_and_its_archive(tmp_path):
    served = tmp_path / "served"
    archive, old_md5 = make_maps_archive(served, n_train=3, n_val=2, height=16)
    dataset_dir = tmp_path / "resources" / "maps"
    before = download_dataset("maps", dataset_dir, archive.as_uri(), None)
    tree = write_maps_tree(tmp_path / "bad", n_train=2, n_val=0, height=16)  # no val images
    make_tar(archive, {"maps": tree})
    with pytest.raises(StructureError, match="member maps/val: no .jpg files"):
        download_dataset("maps", dataset_dir, archive.as_uri(), None)
    assert read_manifest(dataset_dir) == before
    assert md5_of(dataset_dir / "maps.tar.gz") == old_md5
    assert dir_names(dataset_dir) == [".lock", "manifest.json", "maps", "maps.tar.gz"]
    assert dataset_status("maps", dataset_dir.parent)["status"] == "ok"


# --- 4. a dataset in place that already stands for the source -----------------------------------


def test_a_verified_dataset_in_place_is_kept_without_fetching_or_extracting(tmp_path):
    # What the job does when Snakemake reruns it after a failed re-download, the MD5 set back.
    served = tmp_path / "served"
    _, md5 = make_cifar_archive(served, "cifar10", n_train=20, n_test=10)
    dataset_dir = tmp_path / "resources" / "cifar10"
    requests = []
    with http_server(served, requests) as url:
        before = download_dataset("cifar10", dataset_dir, f"{url}/{CIFAR}", md5)
        (dataset_dir / CIFAR).unlink()  # not even the archive is needed
        mirror = f"{url}/mirror/{CIFAR}"  # same MD5 from a mirror: the same data
        assert download_dataset("cifar10", dataset_dir, mirror, md5.upper()) == before
        assert requests == [(f"/{CIFAR}", None)]
        (dataset_dir / "cifar-10-batches-py" / "test_batch").unlink()  # no longer "ok"
        assert download_dataset("cifar10", dataset_dir, f"{url}/{CIFAR}", md5)["verified"]
    assert len(requests) == 2
    assert dataset_status("cifar10", dataset_dir.parent)["status"] == "ok"
