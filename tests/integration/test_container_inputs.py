"""What a container hands sdc and the host, each checked (issue 21, item 7): the account files
`exec -u` reads, the priority its log lines claim, the size of its /etc/hosts, its session
keyring (test_callers_terminal.py), the cgroups a --systemd container makes, the btrfs subvolumes
it makes, and hostnames that are not ones."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc, store_state, unit_property


def wait_for(check: object, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_exec_u_opens_no_account_file_that_is_not_a_file(sdc: Sdc, image: str, name: str) -> None:
    """sdc reads the container's /etc/passwd as the host's root: a FIFO (or a device node: the
    store's loop device) there must not be opened, only looked at (O_PATH) and refused."""
    # The writer's open returns once a reader has opened the FIFO, even one gone again at once.
    script = "rm /etc/passwd; mkfifo /etc/passwd; (exec 3>/etc/passwd; touch /opened) & exec sleep 1000"
    sdc.ok("run", "-d", "--name", name, image, "sh", "-c", script)
    wait_for(lambda: sdc("exec", name, "test", "-p", "/etc/passwd").returncode == 0, "no FIFO")
    proc = sdc("exec", "-u", "nobody", name, "id")
    assert proc.returncode == 125 and "no user 'nobody'" in proc.stderr and proc.stderr.count("\n") == 1, proc
    time.sleep(0.5)  # the writer's open would have returned by now, had sdc opened the FIFO
    assert sdc("exec", name, "test", "-e", "/opened").returncode == 1


def test_a_containers_log_line_keeps_its_own_priority(sdc: Sdc, image: str, name: str) -> None:
    """`<0>` at the start of a line would be emergency for journald, which walls it to every
    terminal of the host: the unit says SyslogLevelPrefix=no, the line stays as it was written."""
    sdc.ok("run", "-d", "--name", name, image, "sh", "-c", "echo '<0>the sky is falling'; exec sleep 1000")
    unit = f"sdc-{name}.service"
    assert unit_property(unit, "SyslogLevelPrefix") == "no"

    def entry() -> dict[str, str] | None:
        out = subprocess.run(["journalctl", "-u", unit, "-o", "json", "--no-pager"], capture_output=True,
                             text=True).stdout  # fmt: skip
        found = [json.loads(line) for line in out.splitlines() if "sky is falling" in line]
        return found[0] if found else None

    wait_for(entry, "the line never reached the journal")
    line = entry()
    assert line is not None and line["MESSAGE"] == "<0>the sky is falling" and line["PRIORITY"] == "6", line


def test_etc_hosts_is_the_containers_own_file(sdc: Sdc, image: str, name: str, store: Path) -> None:
    """/etc/hostname, hosts and resolv.conf were bound read-write from the bundle, on the host's
    /var: a container could grow them without bound there. Now they are written into its own layer
    at each start, where what it writes costs its own storage."""
    script = ("grep -cE ' /etc/(hosts|hostname|resolv.conf) ' /proc/self/mountinfo; cat /etc/hostname; "
              "grep -c localhost /etc/hosts; head -c 20000000 /dev/zero >> /etc/hosts && echo grown")  # fmt: skip
    out = sdc("run", "--name", name, "-h", "box", image, "sh", "-c", script).stdout
    assert out == "0\nbox\n2\ngrown\n", out
    bundle = store / "containers" / name
    assert (bundle / "hosts").stat().st_size < 4096  # the host's copy never grew
    assert sdc.ok("diff", name) == ""  # sdc's own files are no change of the container's
    out = sdc.ok("start", "-a", name)  # written again at start: what the container did is undone
    assert out.startswith("0\nbox\n2\n"), out


def test_hostnames_that_are_none_are_refused_before_anything_is_made(sdc: Sdc, image: str) -> None:
    before = store_state(sdc.root)
    for bad in ("a\nb", "x" * 65, "-lead", "trail-", "a..b", "sp ace", "trailing.", "t\tab"):
        proc = sdc("run", "--rm", "-h", bad, image, "true")
        assert proc.returncode == 125 and "invalid --hostname" in proc.stderr and proc.stderr.count("\n") == 1, proc
    assert store_state(sdc.root) == before
    assert sdc.ok("run", "--rm", "-h", "db-1.corp.example", image, "hostname") == "db-1.corp.example\n"


SUBVOL_C = r"""
#include <fcntl.h>
#include <linux/btrfs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
/* mksubvol DIR NAME: a btrfs subvolume NAME in DIR, as `btrfs subvolume create` makes one. */
int main(int argc, char **argv) {
    struct btrfs_ioctl_vol_args args;
    int fd = argc == 3 ? open(argv[1], O_RDONLY | O_DIRECTORY) : -1;
    memset(&args, 0, sizeof args);
    if (fd < 0) return 2;
    strncpy(args.name, argv[2], sizeof args.name - 1);
    if (ioctl(fd, BTRFS_IOC_SUBVOL_CREATE, &args) < 0) { perror("mksubvol"); return 1; }
    return 0;
}
"""


@pytest.mark.drivers("btrfs")
def test_a_subvolume_the_container_made_is_never_silently_left_out(
    sdc: Sdc, image: str, name: str, tmp_path: Path, store: Path
) -> None:
    """A btrfs snapshot does not recurse into a subvolume nested in it: diff and commit would leave
    a subvolume the container made (no capability needed) out, its files unseen. diff says so, and
    commit refuses, naming it, leaving nothing."""
    (tmp_path / "mksubvol.c").write_text(SUBVOL_C)
    subprocess.run(["gcc", "-static", "-O1", "-o", str(tmp_path / "mksubvol"), str(tmp_path / "mksubvol.c")],
                   check=True)  # fmt: skip
    script = "mkdir /data && mksubvol /data vol && echo secret > /data/vol/file && echo plain > /data/plain"
    sdc.ok("run", "--name", name, "-v", f"{tmp_path / 'mksubvol'}:/usr/bin/mksubvol:ro", image, "sh", "-c", script)
    proc = sdc("diff", name)
    assert proc.returncode == 0 and "A /data/plain" in proc.stdout, proc
    assert "/data/vol is a btrfs subvolume the container made" in proc.stderr, proc.stderr
    before = store_state(store)
    proc = sdc("commit", name, f"{name}-img")
    assert proc.returncode == 125 and "/data/vol" in proc.stderr and proc.stderr.count("\n") == 1, proc
    assert store_state(store) == before


def test_a_systemd_containers_cgroups_are_bounded(sdc: Sdc, image: str) -> None:
    """Its delegated cgroup subtree is its own to manage, not to grow without bound: cgroup v2's
    cgroup.max.depth and cgroup.max.descendants on its root, which (nsdelegate) it cannot raise."""
    script = ("d=/sys/fs/cgroup/unified; [ -e $d/cgroup.procs ] || d=/sys/fs/cgroup; "
              "k=0; p=$d; while mkdir $p/x 2>/dev/null; do p=$p/x; k=$((k+1)); [ $k -gt 100 ] && break; done; "
              "n=0; while mkdir $d/c$n 2>/dev/null; do n=$((n+1)); [ $n -gt 5000 ] && break; done; "
              "echo max > $d/cgroup.max.descendants 2>/dev/null && echo raised; "
              "echo max > $d/cgroup.max.depth 2>/dev/null && echo raised; "
              "echo 0 > $d/cgroup.freeze 2>/dev/null && echo raised; echo deep $k wide $n")  # fmt: skip
    out = sdc.ok("run", "--rm", "--systemd=always", image, "sh", "-c", script).replace("\r", "")
    assert out.strip().splitlines()[-1] == "deep 16 wide 1008" and "raised" not in out, out
