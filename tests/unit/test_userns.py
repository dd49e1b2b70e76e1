"""--userns=auto's ranges: blocks of 65,536 of sdc's subordinate ids, one per container."""

from pathlib import Path

import pytest

from sdcontainer import userns
from sdcontainer.errors import UsageError
from sdcontainer.paths import Paths


def test_blocks_are_whole_ranges_of_sdcs_lines(tmp_path: Path) -> None:
    subuid = tmp_path / "subuid"
    subuid.write_text("alice:100000:65536\nsdc:200000:131073\n# no\nsdc:x:1\nsdc:500000:65535\n")
    assert userns.blocks(str(subuid)) == [200000, 265536]
    assert userns.blocks(str(tmp_path / "missing")) == []


def test_each_container_gets_a_free_block(tmp_path: Path) -> None:
    subuid, subgid = tmp_path / "subuid", tmp_path / "subgid"
    subuid.write_text("sdc:100000:196608\n")
    subgid.write_text("sdc:700000:196608\n")
    paths = Paths(tmp_path / "store")
    config = '{"linux": {"uidMappings": [{"hostID": %d}], "gidMappings": [{"hostID": %d}]}}'
    made = []
    for name in ("a", "b", "c"):
        uid, gid = userns.allocate(paths, subuid=str(subuid), subgid=str(subgid))
        paths.container(name).mkdir(parents=True)
        (paths.container(name) / "config.json").write_text(config % (uid, gid))
        made.append((uid, gid))
    assert made == [(100000, 700000), (165536, 765536), (231072, 831072)]
    with pytest.raises(UsageError, match="every range of sdc's ids is in use"):
        userns.allocate(paths, subuid=str(subuid), subgid=str(subgid))
    (paths.container("b") / "config.json").unlink()  # removed: its block is free again
    assert userns.allocate(paths, subuid=str(subuid), subgid=str(subgid)) == (165536, 765536)


def test_without_lines_for_sdc_a_range_is_made_on_first_use(tmp_path: Path) -> None:
    """As Docker makes its dockremap's: above every other owner's, 32,767 blocks at most."""
    subuid, subgid = tmp_path / "subuid", tmp_path / "subgid"
    subuid.write_text("alice:100000:65536\n")
    subgid.write_text("bob:3000000000:100000")  # (no newline at its end)
    uid, gid = userns.allocate(Paths(tmp_path / "store"), subuid=str(subuid), subgid=str(subgid))
    assert subuid.read_text() == "alice:100000:65536\nsdc:2147483648:2147418112\n"
    first = -(-3000100000 // 65536) * 65536
    assert subgid.read_text() == f"bob:3000000000:100000\nsdc:{first}:{(2**32 - 65536 - first) // 65536 * 65536}\n"
    assert (uid, gid) == (2147483648, first)
    assert userns.blocks(str(subuid))[-1] + 65536 <= 2**32 - 1  # (uid_t)-1 is no container's


def test_no_room_for_sdcs_ids_is_an_error_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "subuid").write_text("alice:100000:4294800000\n")
    with pytest.raises(UsageError, match="no ids for sdc in .*subuid") as caught:
        userns.allocate(Paths(tmp_path), subuid=str(tmp_path / "subuid"), subgid=str(tmp_path / "subuid"))
    assert "sdc:2147483648:2147418112" in (caught.value.hint or "")
    assert (tmp_path / "subuid").read_text() == "alice:100000:4294800000\n"
