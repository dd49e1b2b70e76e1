"""-v's syntax, checked before anything is made (the rest is in tests/integration/test_volumes.py)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sdcontainer.errors import UsageError
from sdcontainer.files import only_root_may_enter
from sdcontainer.volumes import check_volumes, config_mounts, parse_volume


def test_a_volume_is_kept_with_its_host_path_real_and_its_options_plain(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to("real")
    assert parse_volume(f"{tmp_path}/link:/data/") == f"{tmp_path}/real:/data:"
    assert parse_volume(f"{tmp_path}/real:/data:rw") == f"{tmp_path}/real:/data:"
    assert parse_volume(f"{tmp_path}/real:/a//b:ro") == f"{tmp_path}/real:/a/b:ro"
    assert config_mounts([f"{tmp_path}/real:/a/b:idmap,ro"]) == [
        {"destination": "/a/b", "type": "bind", "source": f"{tmp_path}/real",
         "options": ["rbind", "ro", "nosuid", "nodev", "idmap"]}
    ]  # fmt: skip
    # nosuid and nodev unless asked otherwise (Podman's), the defaults unsaid in the record
    assert parse_volume(f"{tmp_path}/real:/d:nosuid,nodev,exec") == f"{tmp_path}/real:/d:exec"
    assert config_mounts([parse_volume(f"{tmp_path}/real:/d:suid,dev,noexec")])[0]["options"] == [
        "rbind", "rw", "noexec"]  # fmt: skip


@pytest.mark.parametrize("options", ["ro,rw", "suid,nosuid", "dev,nodev", "exec,noexec"])
def test_opposite_options_are_refused(tmp_path: Path, options: str) -> None:
    with pytest.raises(UsageError, match="invalid options"):
        parse_volume(f"{tmp_path}:/d:{options}")


@pytest.fixture
def root_dir() -> Iterator[Path]:
    """A directory of root's, on a path of root's directories none but root may write (/var/lib);
    pytest's tmp_path is below /tmp, which everyone may write."""
    if os.geteuid() != 0:
        pytest.skip("a path of root's directories needs root to make")
    path = Path(tempfile.mkdtemp(dir="/var/lib"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def test_an_idmapped_volume_must_be_out_of_reach_of_other_host_users(root_dir: Path) -> None:
    """Its root writes there as the host's root: a setuid file it left must be nobody else's to
    run, and no one else may change the way to it (rename a directory of it, put a link there)."""
    deep = root_dir / "shared" / "deep"
    deep.mkdir(parents=True, mode=0o755)
    (root_dir / "shared").chmod(0o755)
    refused = pytest.raises(UsageError, match="other host users can reach")
    with refused:
        check_volumes([parse_volume(f"{deep}:/d:idmap")], userns=True)  # everyone may search the way
    (root_dir / "shared").chmod(0o750)  # its group may search it: not enough
    with refused:
        check_volumes([parse_volume(f"{deep}:/d:idmap")], userns=True)
    (root_dir / "shared").chmod(0o700)
    check_volumes([parse_volume(f"{deep}:/d:idmap")], userns=True)
    os.chown(root_dir, 1000, 1000)  # a user's directory on the way: they could rename shared away
    with refused:
        check_volumes([parse_volume(f"{deep}:/d:idmap")], userns=True)
    os.chown(root_dir, 0, 0)
    root_dir.chmod(0o775)  # or its group
    with refused:
        check_volumes([parse_volume(f"{deep}:/d:idmap")], userns=True)
    root_dir.chmod(0o755)
    (deep / "file").write_text("x")
    check_volumes([parse_volume(f"{deep}/file:/f:idmap")], userns=True)
    os.link(deep / "file", root_dir / "shared" / "other-name")
    with refused:  # a file with another name, which may be somewhere others reach
        check_volumes([parse_volume(f"{deep}/file:/f:idmap")], userns=True)


def test_the_way_to_an_idmapped_volume_has_no_link(root_dir: Path) -> None:
    (root_dir / "private").mkdir(mode=0o700)
    (root_dir / "link").symlink_to(root_dir / "private")
    assert only_root_may_enter(str(root_dir / "private"))
    assert not only_root_may_enter(str(root_dir / "link"))  # the launcher's walk opens no link


@pytest.mark.parametrize("text", ["", ":", "/x", "/x:", ":/y", "/x:/y:ro:z", "/x:/y:,", "/x:/y:Z"])
def test_malformed_volumes_are_refused(text: str) -> None:
    with pytest.raises(UsageError):
        parse_volume(text)


def test_a_colon_in_the_real_host_path_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a:b").mkdir()
    (tmp_path / "plain").symlink_to("a:b")
    with pytest.raises(UsageError, match="has a ':'"):
        parse_volume(f"{tmp_path}/plain:/data")


def test_one_mount_per_container_path() -> None:
    check_volumes(["/a:/x:", "/a:/y:"], userns=False)
    with pytest.raises(UsageError, match="mounted twice"):
        check_volumes(["/a:/x:", "/b:/x:ro"], userns=False)
    with pytest.raises(UsageError, match="idmap needs a user namespace"):
        check_volumes(["/a:/x:idmap"], userns=False)
    with pytest.raises(UsageError, match="other host users can reach"):  # /a: none such, not private
        check_volumes(["/a:/x:idmap"], userns=True)
