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
from sdcontainer.volumes import BIND, TMPFS, VOLUME, check_volumes, config_mounts, parse_mount, parse_tmpfs
from sdcontainer.volumes import parse_volume as parse_any


def parse_volume(text: str) -> str:
    """-v of a bind: its record."""
    kind, entry = parse_any(text)
    assert kind == BIND
    return entry


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


@pytest.mark.parametrize("text", ["", ":", "/x:", ":/y", "/x:/y:ro:z", "/x:/y:,x", "/x:/y:Q", "data", "a:/y",
                                  "data:y", "data:/", "data://", "/x:///", "data:/a/../b", "-x:/y",
                                  "/x:/y:idmap,U,ro,rw", "d@t:/y"])
def test_malformed_volumes_are_refused(text: str) -> None:
    with pytest.raises(UsageError):
        parse_any(text)


def test_volumes_named_and_anonymous_and_relative_binds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_any("pgdata:/var/lib/db") == (VOLUME, "pgdata:/var/lib/db:")
    assert parse_any("pgdata:/db/:ro,nocopy,z") == (VOLUME, "pgdata:/db:nocopy,ro")
    assert parse_any("/data") == (VOLUME, ":/data:")
    assert parse_any("/data:ro") == (VOLUME, ":/data:ro")  # Docker's: a mode, not a path
    (tmp_path / "conf").mkdir()
    monkeypatch.chdir(tmp_path)
    assert parse_any("./conf:/etc/app:ro") == (BIND, f"{tmp_path}/conf:/etc/app:ro")
    assert parse_any(".:/src") == (BIND, f"{tmp_path}:/src:")
    # z, Z and Docker Desktop's words mean nothing here, and are taken
    assert parse_any("./conf:/c:Z,cached,rprivate") == (BIND, f"{tmp_path}/conf:/c:")


def test_mount_takes_dockers_fields(tmp_path: Path) -> None:
    assert parse_mount(f"type=bind,src={tmp_path},dst=/x,readonly") == (BIND, f"{tmp_path}:/x:ro")
    assert parse_mount(f"type=bind,source={tmp_path},target=/x,ro=false") == (BIND, f"{tmp_path}:/x:")
    assert parse_mount("type=volume,src=cache,dst=/cache") == (VOLUME, "cache:/cache:")
    assert parse_mount("dst=/cache,volume-nocopy") == (VOLUME, ":/cache:nocopy")  # type=volume, anonymous
    assert parse_mount("type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770") == (TMPFS, "/t:mode=1770,size=1048576")
    assert parse_mount('"type=tmpfs","destination=/t"') == (TMPFS, "/t:")


@pytest.mark.parametrize("text", ["type=bind,dst=/x", "type=volume,src=/abs,dst=/x", "type=tmpfs,src=x,dst=/t",
                                  "src=a,dst=/x,colour=red", "type=nfs,dst=/x", "src=ab", "dst=/x,dst=/y",
                                  "type=bind,src=/,dst=/x,bind-propagation=shared", "dst=/x,readonly=maybe",
                                  'dst="/x'])  # fmt: skip
def test_malformed_mounts_are_refused(text: str) -> None:
    with pytest.raises(UsageError):
        parse_mount(text)


def test_tmpfs_options() -> None:
    assert parse_tmpfs("/run") == "/run:"
    assert parse_tmpfs("/run:size=16m,mode=755,noexec,nosuid") == "/run:mode=755,size=16777216"
    assert parse_tmpfs("/t:exec,uid=1000,ro") == "/t:exec,ro,uid=1000"
    assert config_mounts([], [], ["/run:mode=755,size=16777216"]) == [
        {"destination": "/run", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "nodev", "noexec", "mode=755", "size=16777216"]}]  # fmt: skip
    assert config_mounts([], [], ["/t:exec"])[0]["options"] == ["nosuid", "nodev", "mode=1777"]
    for bad in ["run", "/run:size=lots", "/run:mode=999", "/run:uid=-1", "/run:exec,noexec", "/run:nr_blocks=1",
                "/run:size=1m,size=2m"]:
        with pytest.raises(UsageError):
            parse_tmpfs(bad)


def test_a_volume_of_a_user_namespaced_container_is_idmapped() -> None:
    assert config_mounts([], ["pg:/db:ro"], volumes_at="/store/volumes", userns=True) == [
        {"destination": "/db", "type": "bind", "source": "/store/volumes/pg",
         "options": ["rbind", "ro", "nosuid", "nodev", "idmap"]}]  # fmt: skip
    assert config_mounts([], ["pg:/db:"], volumes_at="/v")[0]["options"] == ["rbind", "rw", "nosuid", "nodev"]
    with pytest.raises(UsageError, match="mounted twice"):
        check_volumes([], ["a:/x:"], ["/x:"], userns=False)
    with pytest.raises(UsageError, match="U would chown"):
        check_volumes([], ["a:/x:U"], userns=False)
    check_volumes([], ["a:/x:U"], userns=True)


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
