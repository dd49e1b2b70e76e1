"""Volumes of the store's (`-v NAME:/path`, `-v /path`, --mount), --tmpfs and --read-only, on the
real systemd and both storage drivers (issue 24)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc, store_state


@pytest.fixture(scope="module")
def seeded(sdc: Sdc, image: str) -> Iterator[str]:
    """An image with files at /srv/data (one of uid 1000, a symlink, a hard link), a VOLUME-less
    config, and mount points that are symlinks out: /lnk -> /etc, /up -> ../../../etc."""
    ref = f"seeded-{secrets.token_hex(3)}"
    maker = f"{ref}-maker"
    script = ("mkdir -p /srv/data/sub && echo seed > /srv/data/f && chown 1000:1000 /srv/data/f && "
              "chmod 0640 /srv/data/f && ln -s f /srv/data/link && ln /srv/data/f /srv/data/sub/hard && "
              "chmod 0750 /srv/data && ln -s /etc /lnk && ln -s ../../../etc /up")  # fmt: skip
    sdc.ok("run", "--name", maker, image, "sh", "-c", script)
    sdc.ok("commit", maker, ref)
    sdc.ok("rm", maker)
    yield ref
    sdc("rmi", ref)


@pytest.fixture
def volume() -> Iterator[str]:
    name = f"vol-{secrets.token_hex(4)}"
    yield name


@pytest.fixture(autouse=True)
def _no_volume_left(sdc: Sdc, volume: str) -> Iterator[None]:
    yield
    sdc("volume", "rm", "-f", volume)


def test_a_named_volume_outlives_its_container_and_is_seeded_once(sdc: Sdc, seeded: str, volume: str,
                                                                  name: str) -> None:  # fmt: skip
    show = "stat -c '%n %u %a' /srv/data /srv/data/f; cat /srv/data/link; stat -c %h /srv/data/f"
    out = sdc.ok("run", "--rm", "-v", f"{volume}:/srv/data", seeded, "sh", "-c", show)
    assert out == "/srv/data 0 750\n/srv/data/f 1000 640\nseed\n2\n"  # owners, modes, links as the image's
    [info] = json.loads(sdc.ok("volume", "inspect", volume))
    assert info["Name"] == volume and info["Driver"] == "local" and info["UsedBy"] == [] and not info["Anonymous"]
    assert Path(info["Mountpoint"], "f").read_text() == "seed\n"
    sdc.ok("run", "--name", name, "-v", f"{volume}:/srv/data", seeded, "sh", "-c", "rm -r /srv/data/* && echo 2 > "
           "/srv/data/new")  # fmt: skip
    sdc.ok("rm", name)
    # seeded once: emptied by a container, it stays as that left it
    assert sdc.ok("run", "--rm", "-v", f"{volume}:/srv/data", seeded, "ls", "/srv/data") == "new\n"
    assert volume in sdc.ok("volume", "ls", "-q").split()


def test_volume_rm_refuses_a_volume_in_use_and_prune_takes_the_unused(sdc: Sdc, image: str, volume: str,
                                                                      name: str) -> None:  # fmt: skip
    assert sdc.ok("volume", "create", "--label", "app=db", volume) == f"{volume}\n"
    assert sdc.ok("volume", "ls", "--filter", "label=app=db", "-q") == f"{volume}\n"
    sdc.ok("create", "--name", name, "--mount", f"type=volume,src={volume},dst=/db", image, "true")
    [info] = json.loads(sdc.ok("volume", "inspect", volume))
    assert info["UsedBy"] == [name]
    for refused in (sdc("volume", "rm", volume), sdc("volume", "prune", "-f")):
        assert refused.returncode != 0 or volume not in refused.stdout
    refused = sdc("volume", "rm", volume)
    assert refused.returncode != 0 and refused.stderr.count("\n") == 1 and f"in use by {name}" in refused.stderr
    assert volume in sdc.ok("volume", "ls", "-q", "--filter", "dangling=false").split()
    sdc.ok("rm", name)
    assert volume in sdc.ok("volume", "prune", "-f").split()
    assert volume not in sdc.ok("volume", "ls", "-q").split()
    assert not (sdc.root / "storage" / "volumes" / volume).exists()
    missing = sdc("volume", "rm", volume)
    assert missing.returncode != 0 and "no such volume" in missing.stderr
    assert sdc("volume", "rm", "-f", volume).returncode == 0


def test_anonymous_volumes_go_with_rm_v_and_run_rm(sdc: Sdc, image: str, name: str) -> None:
    before = set(sdc.ok("volume", "ls", "-q").split())
    sdc.ok("run", "--rm", "-v", "/data", image, "sh", "-c", "echo x > /data/f")
    assert set(sdc.ok("volume", "ls", "-q").split()) == before  # --rm took it
    sdc.ok("run", "--name", name, "-v", "/data", "--mount", "type=volume,dst=/more", image, "sh", "-c",
           "echo kept > /data/f")  # fmt: skip
    [info] = json.loads(sdc.ok("inspect", name))
    anonymous = [m["Name"] for m in info["Mounts"] if m["Type"] == "volume"]
    assert len(anonymous) == 2 and all(len(v) == 64 for v in anonymous)
    assert set(sdc.ok("volume", "ls", "-q").split()) == before | set(anonymous)
    sdc.ok("stop", name)
    sdc.ok("start", "-a", name)
    sdc.ok("rm", "-v", name)
    assert set(sdc.ok("volume", "ls", "-q").split()) == before


def test_a_named_volume_a_rm_v_leaves(sdc: Sdc, image: str, name: str, volume: str) -> None:
    sdc.ok("run", "--name", name, "-v", f"{volume}:/d", image, "sh", "-c", "echo mine > /d/f")
    sdc.ok("rm", "-v", name)
    assert sdc.ok("run", "--rm", "-v", f"{volume}:/d", image, "cat", "/d/f") == "mine\n"


@pytest.mark.usefixtures("subids")
def test_user_namespaced_containers_share_a_volume(sdc: Sdc, image: str, volume: str) -> None:
    """Each has a range of the host's ids of its own; the volume is idmapped for each, so what one
    wrote (as its root and as its user 1000) is the other's root's and user 1000's."""
    sdc.ok("run", "--rm", "--userns=auto", "-v", f"{volume}:/shared", image, "sh", "-c",
           "echo from-one > /shared/root-file && echo x > /shared/user-file && "
           "chown 1000:1000 /shared/user-file")  # fmt: skip
    out = sdc.ok("run", "--rm", "--userns=auto", "-v", f"{volume}:/shared", image, "sh", "-c",
                 "stat -c '%n %u' /shared/root-file /shared/user-file; cat /shared/root-file; "
                 "echo two >> /shared/root-file && cat /proc/self/uid_map | tr -s ' '")  # fmt: skip
    lines = out.splitlines()
    assert lines[:3] == ["/shared/root-file 0", "/shared/user-file 1000", "from-one"]
    assert lines[3].split()[1] != "0"  # its root is not the host's
    files = sdc.root / "storage" / "volumes" / volume
    assert (files / "root-file").stat().st_uid == 0 and (files / "user-file").stat().st_uid == 1000  # as seen inside
    assert sdc.ok("run", "--rm", "-v", f"{volume}:/shared", image, "cat", "/shared/root-file") == "from-one\ntwo\n"


def test_read_only_binds_and_roots_refuse_writes_and_tmpfs_has_its_size(sdc: Sdc, image: str, volume: str,
                                                                        tmp_path: Path) -> None:  # fmt: skip
    script = ("touch /x 2>/dev/null || echo root-ro; touch /vol/x 2>/dev/null || echo vol-ro; "
              "touch /tmp/x /var/tmp/x /run/x /t/x && echo tmp-rw; echo 127.0.0.1 more >> /etc/hosts && echo hosts-rw; "
              "grep ' /t ' /proc/self/mounts | grep -o 'size=[0-9]*k'; "
              "dd if=/dev/zero of=/t/big bs=1k count=2048 2>/dev/null || echo t-full")  # fmt: skip
    out = sdc.ok("run", "--rm", "--read-only", "-v", f"{volume}:/vol:ro", "--tmpfs", "/t:size=1m", image, "sh", "-c",
                 script)  # fmt: skip
    assert out == "root-ro\nvol-ro\ntmp-rw\nhosts-rw\nsize=1024k\nt-full\n"
    out = sdc.ok("run", "--rm", "--read-only", "--read-only-tmpfs=false", "--mount", "type=tmpfs,dst=/w,tmpfs-mode=700",
                 image, "sh", "-c", "touch /tmp/x 2>/dev/null || echo tmp-ro; stat -c %a /w")  # fmt: skip
    assert out == "tmp-ro\n700\n"


def test_the_host_is_never_mounted_over_through_an_images_or_a_planted_symlink(
        sdc: Sdc, seeded: str, volume: str, name: str) -> None:  # fmt: skip
    """/lnk -> /etc and /up -> ../../../etc resolve inside the container's root: the volume is
    seeded from the image's /etc and mounted on the container's /etc, never the host's."""
    host_etc = sorted(p.name for p in Path("/etc").iterdir())
    out = sdc.ok("run", "--rm", "-v", f"{volume}:/lnk", "--tmpfs", "/up/t", seeded, "sh", "-c",
                 "cat /etc/passwd | head -1; echo planted > /lnk/planted; ls -d /etc/t")  # fmt: skip
    assert out == "root:x:0:0:root:/root:/bin/sh\n/etc/t\n"  # the image's /etc
    assert (sdc.root / "storage" / "volumes" / volume / "planted").read_text() == "planted\n"
    assert (sdc.root / "storage" / "volumes" / volume / "passwd").exists()  # seeded from the image's /etc
    # a container that plants a link where its mount point's parent was, then is started again
    sdc.ok("run", "--name", name, "-v", f"{volume}:/a/b", "--tmpfs", "/c/d", seeded, "sh", "-c",
           "mv /a /a.old && ln -s ../../../../etc /a && mv /c /c.old && ln -s /etc /c")  # fmt: skip
    assert sdc.ok("start", "-a", name) == ""
    assert sorted(p.name for p in Path("/etc").iterdir()) == host_etc
    assert not Path("/etc/b").exists() and not Path("/etc/d").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["-v", "no@pe:/d"], "invalid volume name"),
    (["--mount", "type=nfs,dst=/d"], "type 'nfs' is not sdc's"),
    (["--mount", "type=volume,src=v,dst=/d,colour=red"], "does not know colour"),
    (["--tmpfs", "/t:size=lots"], "invalid size"),
    (["--tmpfs", "t"], "must be absolute"),
    (["--read-only-tmpfs", "maybe"], "invalid --read-only-tmpfs"),
    (["-v", "NEWVOL:/d", "--user", "nosuchuser"], "nosuchuser"),  # fails after the volume is made
    (["-v", "/d", "--user", "nosuchuser"], "nosuchuser"),
])  # fmt: skip
def test_bad_mounts_are_one_line_and_leave_nothing(sdc: Sdc, image: str, store: Path, volume: str, args: list[str],
                                                   message: str) -> None:  # fmt: skip
    before = store_state(store)
    proc = sdc("run", "-d", *[a.replace("NEWVOL", volume) for a in args], image, "true")
    assert proc.returncode == 125 and message in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert store_state(store) == before
