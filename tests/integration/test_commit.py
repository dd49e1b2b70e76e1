"""`sdc diff` and `sdc commit` (issue 7): Docker's A/C/D lines, found through btrfs itself; a
commit is the container's image and one more layer, a standard layer tarball that skopeo and
umoci read as the container's tree; both drivers."""

from __future__ import annotations

import json
import select
import time
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc, rootfs_of, store_state
from tests.integration.imagetools import run, tree

SCRIPT = """
echo new > /etc/new
echo changed >> /etc/passwd
rm /bin/vi
mkdir -p /srv/app/deep
echo data > /srv/app/deep/file
ln /srv/app/deep/file /srv/app/hard
ln -s ../etc/new /srv/link
mkdir /gone-dir 2>/dev/null
echo ready > /tmp/ready
"""
CHANGES = [
    "C /bin", "D /bin/vi", "C /etc", "A /etc/new", "C /etc/passwd", "A /srv", "A /srv/app", "A /srv/app/deep",
    "A /srv/app/deep/file", "A /srv/app/hard", "A /srv/link", "A /gone-dir", "C /tmp", "A /tmp/ready",
]  # fmt: skip


def wait_ready(sdc: Sdc, name: str) -> list[str]:
    for _ in range(100):
        lines = sdc.ok("diff", name).splitlines()
        if "A /tmp/ready" in lines:
            return lines
        time.sleep(0.1)
    raise AssertionError(f"the container never finished its script: {lines}")


@pytest.fixture(params=["session", "vfs"])
def driven(request: pytest.FixtureRequest, sdc: Sdc, fresh_sdc: Sdc, busybox_tar: Path) -> Sdc:
    """sdc with the busybox image as bb, on the session's store (each driver's) or a fresh vfs one."""
    if request.param == "session":
        sdc.ok("import", str(busybox_tar), "bb")
        return sdc
    vfs = Sdc(fresh_sdc.root, "vfs")
    vfs.ok("import", str(busybox_tar), "bb")
    return vfs


def test_diff_and_commit_of_a_running_container(driven: Sdc, name: str, tmp_path: Path) -> None:
    sdc = driven
    sdc.ok("run", "-d", "--name", name, "bb", "sh", "-c", SCRIPT + "exec sleep 1000")
    assert sorted(wait_ready(sdc, name)) == sorted(CHANGES)
    iid = sdc.ok("commit", "-m", "with an app", "-a", "Ada <ada@example.org>", "-c", "CMD cat /srv/app/hard",
                 "-c", "ENV STAGE=two", name, "test/committed:v2").strip()  # fmt: skip
    assert iid.startswith("sha256:")
    # The new image: the change is there, the deleted file stays deleted, the links are links.
    check = "cat /etc/new /etc/passwd; test -e /bin/vi || echo vi-gone; readlink /srv/link; echo $STAGE"
    out = sdc.ok("run", "--rm", "test/committed:v2", "sh", "-c", check)
    assert out == "new\nroot:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\nchanged\nvi-gone\n" \
                  "../etc/new\ntwo\n"  # fmt: skip
    assert sdc.ok("run", "--rm", "test/committed:v2") == "data\n"  # the CMD the commit set
    stat = sdc.ok("run", "--rm", "test/committed:v2", "stat", "-c", "%i %h", "/srv/app/hard", "/srv/app/deep/file")
    first, second = stat.splitlines()
    assert first == second and first.endswith(" 2")  # one inode, two names
    # The init layer's files never enter it: the new image's are empty placeholders again, per container.
    assert sdc.ok("run", "--rm", "--hostname", "other", "test/committed:v2", "cat", "/etc/hostname") == "other\n"
    # Its config: the base's layers and one more, the history, the author.
    archive = tmp_path / "committed.tar"
    sdc.ok("save", "-o", str(archive), "test/committed:v2")
    run("skopeo", "copy", "-q", f"oci-archive:{archive}", f"oci:{tmp_path}/layout:c")
    config = json.loads(run("skopeo", "inspect", "--config", f"oci:{tmp_path}/layout:c"))
    assert len(config["rootfs"]["diff_ids"]) == 2 and config["author"] == "Ada <ada@example.org>"
    assert config["history"][-1]["comment"] == "with an app" and config["config"]["Cmd"][-1] == "cat /srv/app/hard"
    assert "STAGE=two" in config["config"]["Env"]
    # umoci unpacks the committed tree: the container's, but for what the init layer adds.
    run("umoci", "unpack", "--image", f"{tmp_path}/layout:c", str(tmp_path / "unpacked"))
    rootfs = rootfs_of(sdc, name)
    init = {"proc", "sys", "dev", "run", "etc/hostname", "etc/hosts", "etc/resolv.conf"}
    theirs, mine = tree(tmp_path / "unpacked" / "rootfs"), tree(rootfs, skip=frozenset(init))
    assert {p: e for p, e in theirs.items() if p not in init} == {p: e for p, e in mine.items() if p not in init}
    # A stopped container commits too; a container of the committed image diffs against it.
    sdc.ok("stop", "-t", "1", name)
    sdc.ok("commit", name, "test/committed:stopped")
    sdc.ok("rm", name)
    sdc.ok("run", "-d", "--name", name, "test/committed:v2", "sh", "-c", "rm /etc/new; exec sleep 1000")
    for _ in range(100):
        if (lines := sdc.ok("diff", name).splitlines()) == ["C /etc", "D /etc/new"]:
            break
        time.sleep(0.1)
    assert lines == ["C /etc", "D /etc/new"]


def test_bad_commits_leave_nothing(sdc: Sdc, store: Path, image: str, name: str) -> None:
    sdc.ok("run", "-d", "--name", name, image, "sleep", "1000")
    before = store_state(store)
    for args, says in (
        (["no-such-container"], "no such container"),
        (["-c", "FROM scratch", name], "cannot be changed"),
        (["-c", 'CMD ["unclosed"', name], "JSON array"),
        ([name, "Bad:Name:x"], "invalid"),
    ):
        proc = sdc("commit", *args)
        assert proc.returncode == 125 and proc.stderr.count("\n") == 1 and says in proc.stderr, proc.stderr
        assert store_state(store) == before
    proc = sdc("diff", "no-such-container")
    assert proc.returncode == 125 and "no such container" in proc.stderr


def test_commit_pauses_a_running_container_unless_told_not_to(sdc: Sdc, image: str, name: str) -> None:
    sdc.ok("run", "-d", "--name", name, image, "sh", "-c", "echo ready > /tmp/ready; exec sleep 1000")
    wait_ready(sdc, name)
    cgroup = json.loads(sdc.ok("inspect", name))[0]["State"]["ControlGroup"]
    [events] = [p for p in (Path(f"/sys/fs/cgroup{cgroup}/cgroup.events"),
                            Path(f"/sys/fs/cgroup/unified{cgroup}/cgroup.events")) if p.exists()]  # fmt: skip

    def froze(*flags: str) -> bool:
        """Whether the container's cgroup went frozen (and back) while the commit ran: a change to
        cgroup.events since it was last read wakes poll() (cgroups(7))."""
        with open(events, "rb", buffering=0) as f:
            f.read()
            poller = select.poll()
            poller.register(f, select.POLLPRI)
            sdc.ok("commit", *flags, name)
            return bool(poller.poll(0))

    assert not froze("--pause=false")
    assert froze()  # Docker's default
    assert froze("--pause=true") and froze("-p")
    assert "frozen 0" in events.read_text()  # and running again
    assert json.loads(sdc.ok("inspect", name))[0]["State"]["Status"] == "running"


def test_commit_keeps_the_containers_labels_as_docker_does(sdc: Sdc, image: str, name: str) -> None:
    sdc.ok("run", "--name", name, "-l", "tier=web", "-l", "team=a", image, "true")
    sdc.ok("commit", "-c", "LABEL team=b version=2", name, f"{name}-img")
    labels = json.loads(sdc.ok("image", "inspect", "-f", "{{json .Config.Labels}}", f"{name}-img"))
    assert labels == {"tier": "web", "team": "b", "version": "2"}  # --change over the container's
    sdc.ok("rm", name)
    sdc.ok("rmi", f"{name}-img")
