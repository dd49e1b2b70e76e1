"""-v's syntax, checked before anything is made (the rest is in tests/integration/test_volumes.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sdcontainer.errors import UsageError
from sdcontainer.volumes import check_volumes, config_mounts, parse_volume


def test_a_volume_is_kept_with_its_host_path_real_and_its_options_plain(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to("real")
    assert parse_volume(f"{tmp_path}/link:/data/") == f"{tmp_path}/real:/data:"
    assert parse_volume(f"{tmp_path}/real:/data:rw") == f"{tmp_path}/real:/data:"
    assert parse_volume(f"{tmp_path}/real:/a//b:ro,idmap") == f"{tmp_path}/real:/a/b:idmap,ro"
    assert config_mounts([f"{tmp_path}/real:/a/b:idmap,ro"]) == [
        {"destination": "/a/b", "type": "bind", "source": f"{tmp_path}/real", "options": ["rbind", "ro", "idmap"]}
    ]


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
