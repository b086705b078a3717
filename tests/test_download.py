"""Downloads: checksums, resume, locking, safe extraction, and the rules run through Snakemake."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import pytest
import yaml
from conftest import run_snakemake
from fake_data import http_server, make_cifar_archive, make_maps_archive, md5_of

from archopt.data.archive import ArchiveError, safe_extract
from archopt.data.download import DownloadError, dataset_lock, download_dataset
from archopt.data.manifest import DOWNLOAD_MARKER, read_manifest

ARCHIVE = "cifar-10-python.tar.gz"


@pytest.fixture
def served(tmp_path) -> Path:
    """A served folder holding a small CIFAR-10 archive."""
    folder = tmp_path / "served"
    make_cifar_archive(folder, "cifar10", n_train=50, n_test=20)
    return folder


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def leftovers(dataset_dir: Path) -> list[str]:
    return sorted(
        p.name
        for p in dataset_dir.iterdir()
        if p.name.startswith(".extract-") or p.suffix == ".part"
    )


def closed_port_url(name: str) -> str:
    with http_server(Path(".")) as url:
        pass  # the server is shut down: connections to its port are refused
    return f"{url}/{name}"


# --- download_dataset -------------------------------------------------------------------------


def test_download_verifies_extracts_and_writes_the_manifest_last(served, tmp_path):
    md5 = md5_of(served / ARCHIVE)
    requests = []
    with http_server(served, requests) as url:
        manifest = download_dataset("cifar10", tmp_path / "cifar10", f"{url}/{ARCHIVE}", md5)
    dataset_dir = tmp_path / "cifar10"
    assert manifest == read_manifest(dataset_dir)
    assert manifest["verified"] is True and manifest["md5_actual"] == md5
    assert manifest["counts"] == {"train": 50, "test": 20}
    assert (dataset_dir / "cifar-10-batches-py" / "data_batch_5").is_file()
    assert leftovers(dataset_dir) == []
    assert requests == [(f"/{ARCHIVE}", None)]


def test_a_verified_archive_in_place_is_not_downloaded_again(served, tmp_path):
    md5 = md5_of(served / ARCHIVE)
    requests = []
    with http_server(served, requests) as url:
        download_dataset("cifar10", tmp_path / "cifar10", f"{url}/{ARCHIVE}", md5)
        download_dataset("cifar10", tmp_path / "cifar10", f"{url}/{ARCHIVE}", md5)
    assert len(requests) == 1


def test_a_file_copied_by_hand_is_used_without_network(served, tmp_path):
    dataset_dir = tmp_path / "cifar10"
    dataset_dir.mkdir()
    (dataset_dir / ARCHIVE).write_bytes((served / ARCHIVE).read_bytes())
    manifest = download_dataset(
        "cifar10", dataset_dir, closed_port_url(ARCHIVE), md5_of(served / ARCHIVE)
    )
    assert manifest["verified"] and manifest["counts"]["train"] == 50


def test_file_url_works(served, tmp_path):
    url = (served / ARCHIVE).as_uri()
    manifest = download_dataset("cifar10", tmp_path / "cifar10", url, md5_of(served / ARCHIVE))
    assert manifest["url"] == url and manifest["verified"]


def test_checksum_mismatch_names_url_and_both_md5s_and_removes_the_file(served, tmp_path):
    actual = md5_of(served / ARCHIVE)
    with http_server(served) as url, pytest.raises(DownloadError) as error:
        download_dataset("cifar10", tmp_path / "cifar10", f"{url}/{ARCHIVE}", "0" * 32)
    message = str(error.value)
    assert f"{url}/{ARCHIVE}" in message and "0" * 32 in message and actual in message
    assert sorted(p.name for p in (tmp_path / "cifar10").iterdir()) == [".lock"]


def test_truncated_archive_fails_the_checksum(served, tmp_path):
    md5 = md5_of(served / ARCHIVE)
    truncate(served / ARCHIVE)
    with http_server(served) as url, pytest.raises(DownloadError, match="checksum mismatch"):
        download_dataset("cifar10", tmp_path / "cifar10", f"{url}/{ARCHIVE}", md5)
    assert read_manifest(tmp_path / "cifar10") is None


def test_truncated_archive_without_md5_is_refused_and_not_kept(tmp_path):
    archive, _ = make_maps_archive(tmp_path / "served", n_train=4, n_val=2)
    truncate(archive)
    with pytest.raises(ArchiveError, match="truncated or not a tar archive"):
        download_dataset("maps", tmp_path / "maps", archive.as_uri(), None)
    assert sorted(p.name for p in (tmp_path / "maps").iterdir()) == [".lock"]


def test_maps_without_md5_is_accepted_after_structure_checks_but_not_verified(tmp_path):
    archive, md5 = make_maps_archive(tmp_path / "served", n_train=4, n_val=3, height=16)
    manifest = download_dataset("maps", tmp_path / "maps", archive.as_uri(), None)
    assert manifest["verified"] is False and "not verified" in manifest["warning"]
    assert manifest["md5_actual"] == md5
    assert manifest["counts"] == {"train": 4, "val": 3} and manifest["image_size"] == [32, 16]


def test_an_archive_with_the_wrong_layout_is_refused(tmp_path):
    archive, md5 = make_cifar_archive(tmp_path / "served", "cifar100", n_train=10, n_test=5)
    # Refused on the archive's index: CIFAR-10 defines no member named cifar-100-python.
    with pytest.raises(ArchiveError, match="member 'cifar-100-python': not a file or folder "
                                           "of this dataset"):
        download_dataset("cifar10", tmp_path / "cifar10", archive.as_uri(), md5)
    assert read_manifest(tmp_path / "cifar10") is None


def test_partial_download_resumes_with_a_range_request(served, tmp_path):
    data = (served / ARCHIVE).read_bytes()
    dataset_dir = tmp_path / "cifar10"
    dataset_dir.mkdir()
    (dataset_dir / f"{ARCHIVE}.part").write_bytes(data[:1000])  # what a killed job left
    requests = []
    with http_server(served, requests) as url:
        manifest = download_dataset(
            "cifar10", dataset_dir, f"{url}/{ARCHIVE}", md5_of(served / ARCHIVE)
        )
    assert requests == [(f"/{ARCHIVE}", "bytes=1000-")]
    assert manifest["verified"] and (dataset_dir / ARCHIVE).read_bytes() == data


def test_server_down_says_which_url_where_to_put_the_file_and_which_key(tmp_path):
    url = closed_port_url(ARCHIVE)
    with pytest.raises(DownloadError) as error:
        download_dataset("cifar10", tmp_path / "cifar10", url, "a" * 32)
    message = str(error.value)
    assert f"could not download {url}" in message
    assert str(tmp_path / "cifar10" / ARCHIVE) in message
    assert "datasets.cifar10.url" in message and "file://" in message


def test_a_second_download_waits_for_the_lock_and_reuses_the_first(served, tmp_path):
    dataset_dir = tmp_path / "cifar10"
    md5 = md5_of(served / ARCHIVE)
    requests = []
    with http_server(served, requests) as url:
        workers = [
            threading.Thread(
                target=download_dataset, args=("cifar10", dataset_dir, f"{url}/{ARCHIVE}", md5)
            )
            for _ in range(2)
        ]
        with dataset_lock(dataset_dir):  # a third party holds the lock: nobody may start
            for worker in workers:
                worker.start()
            time.sleep(0.5)
            assert requests == [] and all(w.is_alive() for w in workers)
        for worker in workers:
            worker.join(timeout=60)
    assert len(requests) == 1
    assert read_manifest(dataset_dir)["verified"]


# --- safe extraction --------------------------------------------------------------------------


def _tar_with(path: Path, *members: tarfile.TarInfo) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        tar.addfile(_file("data/ok.txt"), io.BytesIO(b"ok"))
        for member in members:
            tar.addfile(member, io.BytesIO(b"x") if member.isfile() else None)
    return path


def _file(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = 1 if name != "data/ok.txt" else 2
    return info


def _link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def _device(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.CHRTYPE
    return info


@pytest.mark.parametrize(
    "member, reason",
    [
        (_file("../evil.txt"), "'..' in its path"),
        (_file("data/../../evil.txt"), "'..' in its path"),
        (_file("/tmp/evil.txt"), "absolute path"),
        (_link("data/up", "../../etc/passwd", tarfile.SYMTYPE), "symbolic link to '../../etc"),
        (_link("data/abs", "/etc/passwd", tarfile.SYMTYPE), "symbolic link to '/etc/passwd'"),
        (_link("data/hard", "../outside", tarfile.LNKTYPE), "hard link to '../outside'"),
        (_link("data/alias.txt", "ok.txt", tarfile.SYMTYPE), "symbolic link to 'ok.txt'"),
        (_link("data/copy.txt", "data/ok.txt", tarfile.LNKTYPE), "hard link to 'data/ok.txt'"),
        (_device("data/null"), "device or FIFO file"),
    ],
)
def test_unsafe_members_are_refused_by_name_before_anything_is_written(tmp_path, member, reason):
    archive = _tar_with(tmp_path / "evil.tar.gz", member)
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(ArchiveError, match=f"member {member.name!r}: {reason}"):
        safe_extract(archive, dest)
    assert list(dest.iterdir()) == []


def test_plain_files_and_folders_are_extracted(tmp_path):
    archive = _tar_with(tmp_path / "fine.tar.gz", _file("data/more.txt"))
    dest = tmp_path / "dest"
    dest.mkdir()
    assert safe_extract(archive, dest) == 2
    assert (dest / "data" / "ok.txt").read_text() == "ok"


# --- the rules, through the snakemake CLI -----------------------------------------------------


def write_config(workdir: Path, sources: dict[str, tuple[str, str | None]]) -> str:
    config = {"datasets": {name: {"url": url, "md5": md5} for name, (url, md5) in sources.items()}}
    (workdir / "mirror.yaml").write_text(yaml.safe_dump(config))
    return "mirror.yaml"


def datasets_json(workdir: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "archopt.cli", "datasets", "--root", "resources", "--json"],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


@pytest.mark.slow
def test_download_rules_fetch_verify_and_extract(workflow_copy, tmp_path):
    served = tmp_path / "served"
    _, md5_10 = make_cifar_archive(served, "cifar10", n_train=100, n_test=30)
    _, md5_100 = make_cifar_archive(served, "cifar100", n_train=120, n_test=40)
    make_maps_archive(served, n_train=5, n_val=4)
    with http_server(served) as url:
        configfile = write_config(
            workflow_copy,
            {
                "cifar10": (f"{url}/cifar-10-python.tar.gz", md5_10),
                "cifar100": (f"{url}/cifar-100-python.tar.gz", md5_100),
                "maps": (f"{url}/maps.tar.gz", None),
            },
        )
        targets = ("download_cifar10", "download_cifar100", "download_maps")
        result = run_snakemake(workflow_copy, *targets, "--configfile", configfile)
    assert result.returncode == 0, result.stderr
    status = datasets_json(workflow_copy)
    assert status["cifar10"] == {
        **status["cifar10"],
        "status": "ok",
        "train": 100,
        "test": 30,
        "verified": True,
    }
    assert status["cifar100"] == {**status["cifar100"], "status": "ok", "train": 120, "test": 40}
    assert status["maps"] == {
        **status["maps"],
        "status": "ok",
        "train": 5,
        "val": 4,
        "verified": False,
    }
    assert "100%" in (workflow_copy / "logs/download/cifar10.log").read_text()  # progress lines
    assert "not verified" in (workflow_copy / "logs/download/maps.log").read_text()

    # A mirror of the same archive (same MD5, other URL) does not trigger a new download;
    # another MD5 does.
    changes = write_config(
        workflow_copy,
        {
            "cifar10": ("https://mirror.example/c10.tar.gz", md5_10),
            "cifar100": (f"{url}/cifar-100-python.tar.gz", "f" * 32),
        },
    )
    dry = run_snakemake(workflow_copy, "-n", *targets, "--configfile", changes)
    assert dry.returncode == 0, dry.stderr
    scheduled = re.findall(r"^rule (\w+):", dry.stdout, flags=re.M)
    assert scheduled == ["download_cifar100"]
    assert "params" in dry.stdout.lower()


@pytest.mark.slow
def test_download_rules_fail_cleanly(workflow_copy, tmp_path):
    served = tmp_path / "served"
    _, md5_10 = make_cifar_archive(served, "cifar10", n_train=40, n_test=10)
    truncate(served / ARCHIVE)
    md5_100 = md5_of(
        _tar_with(served / "cifar-100-python.tar.gz", _file("cifar-100-python/../../escape"))
    )
    down = closed_port_url("maps.tar.gz")
    with http_server(served) as url:
        configfile = write_config(
            workflow_copy,
            {
                "cifar10": (f"{url}/{ARCHIVE}", md5_10),  # truncated archive
                "cifar100": (f"{url}/cifar-100-python.tar.gz", md5_100),  # a '..' member
                "maps": (down, None),  # server down
            },
        )
        targets = ("download_cifar10", "download_cifar100", "download_maps")
        result = run_snakemake(workflow_copy, *targets, "--keep-going", "--configfile", configfile)
    assert result.returncode != 0
    log = {
        name: (workflow_copy / f"logs/download/{name}.log").read_text()
        for name in ("cifar10", "cifar100", "maps")
    }
    assert f"checksum mismatch for {url}/{ARCHIVE}: expected MD5 {md5_10}, got" in log["cifar10"]
    assert "refusing to extract member 'cifar-100-python/../../escape'" in log["cifar100"]
    assert not (tmp_path / "escape").exists()
    assert f"could not download {down}" in log["maps"] and "datasets.maps.url" in log["maps"]
    assert {info["status"] for info in datasets_json(workflow_copy).values()} == {"missing"}


@pytest.mark.slow
def test_a_failed_redownload_through_snakemake_keeps_the_manifest_of_the_verified_dataset(
    workflow_copy, tmp_path
):
    # Snakemake deletes the outputs of a failed job: the download's output is its marker,
    # not the manifest, so the dataset in place stays usable and reported "ok".
    served = tmp_path / "served"
    _, md5 = make_cifar_archive(served, "cifar10", n_train=20, n_test=10)
    dataset_dir = workflow_copy / "resources" / "cifar10"
    with http_server(served) as url:
        source = f"{url}/{ARCHIVE}"
        good = write_config(workflow_copy, {"cifar10": (source, md5)})
        first = run_snakemake(workflow_copy, "download_cifar10", "--configfile", good)
        assert first.returncode == 0, first.stderr
        before = read_manifest(dataset_dir)
        assert before["verified"] and datasets_json(workflow_copy)["cifar10"]["status"] == "ok"
        assert (dataset_dir / DOWNLOAD_MARKER).is_file()

        bad = write_config(workflow_copy, {"cifar10": (source, "f" * 32)})
        failed = run_snakemake(workflow_copy, "download_cifar10", "--configfile", bad)
        assert failed.returncode != 0
        assert "checksum mismatch" in (workflow_copy / "logs/download/cifar10.log").read_text()
        assert read_manifest(dataset_dir) == before
        status = datasets_json(workflow_copy)["cifar10"]
        assert status == {**status, "status": "ok", "verified": True, "train": 20, "test": 10}
        assert (dataset_dir / "cifar-10-batches-py" / "data_batch_1").is_file()
        assert md5_of(dataset_dir / ARCHIVE) == md5
        assert not (dataset_dir / DOWNLOAD_MARKER).exists()  # what Snakemake removed

        good = write_config(workflow_copy, {"cifar10": (source, md5)})  # the MD5 set back
        again = run_snakemake(workflow_copy, "download_cifar10", "--configfile", good)
    assert again.returncode == 0, again.stderr
    assert "nothing to download" in (workflow_copy / "logs/download/cifar10.log").read_text()
    assert (dataset_dir / DOWNLOAD_MARKER).is_file()
    assert datasets_json(workflow_copy)["cifar10"]["status"] == "ok"
    assert read_manifest(dataset_dir)["md5_expected"] == md5
