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
    assert parse_volume(f"{tmp_path}/real:/a//b:ro,idmap") == f"{tmp_path}/real:/a/b:idmap,ro"
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
def public_dir() -> Iterator[Path]:
    """A directory every user can reach (pytest's tmp_path is below a directory of mode 0700)."""
    path = Path(tempfile.mkdtemp(dir="/var/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)


def test_an_idmapped_volume_must_be_out_of_reach_of_other_host_users(public_dir: Path) -> None:
    """Its root writes there as the host's root: a setuid file it left must be nobody else's to run."""
    deep = public_dir / "shared" / "deep"
    deep.mkdir(parents=True)
    (public_dir / "shared").chmod(0o755)
    with pytest.raises(UsageError, match="other host users can reach"):
        parse_volume(f"{deep}:/d:idmap")
    (public_dir / "shared").chmod(0o750)  # its group may search it: not enough
    with pytest.raises(UsageError, match="other host users can reach"):
        parse_volume(f"{deep}:/d:idmap")
    (public_dir / "shared").chmod(0o700)
    if os.geteuid() != 0:
        pytest.skip("a directory only root may enter is root's: the rest needs root")
    assert only_root_may_enter(str(deep)) and parse_volume(f"{deep}:/d:idmap") == f"{deep}:/d:idmap"


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
    check_volumes(["/a:/x:idmap"], userns=True)
