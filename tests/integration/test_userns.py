"""--userns=auto (issue 9): PID 1's ids are a range of the host's of the container's own; inside, it
is root and the image's files are root's (an idmapped mount of the root); ranges are disjoint and
freed on rm; without sdc's lines in /etc/subuid it is a one-line error that leaves nothing."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.integration.conftest import BASE, SUBID_FILES, Sdc, rootfs_of, store_state, unit_property


def host_ids(name: str) -> tuple[int, int]:
    """PID 1's real uid and gid as the host sees them."""
    pid = unit_property(f"sdc-{name}.service", "MainPID")
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    return int(status["Uid"].split()[0]), int(status["Gid"].split()[0])


SCRIPT = ("id -u; id -g; stat -c %u:%g /bin/busybox; cat /proc/self/uid_map | tr -s ' '; echo x > /dev/null && "
          "echo null-ok; echo written > /new && stat -c %u /new; echo '10.0.0.1 db' >> /etc/hosts && "
          "stat -c %u:%g /etc/hosts; exec sleep 1000")  # fmt: skip


def test_root_inside_is_a_range_of_its_own_outside(sdc: Sdc, image: str, name: str, subids: None, driver: str) -> None:
    sdc.ok("run", "-d", "--userns=auto", "--name", name, image, "sh", "-c", SCRIPT)
    second = f"{name}-2"
    try:
        sdc.ok("run", "-d", "--userns", "auto", "--name", second, image, "sleep", "1000")
        first_ids, second_ids = host_ids(name), host_ids(second)
        assert first_ids[0] in (BASE, BASE + 65536, BASE + 2 * 65536) and first_ids[1] >= BASE
        assert abs(first_ids[0] - second_ids[0]) >= 65536 and abs(first_ids[1] - second_ids[1]) >= 65536
        lines = []
        for _ in range(100):
            lines = sdc.ok("logs", name).splitlines()
            if len(lines) >= 7:
                break
        assert lines == ["0", "0", "0:0", f" 0 {first_ids[0]} 65536", "null-ok", "0", "0:0"]
        [info] = json.loads(sdc.ok("inspect", name))
        assert info["Security"]["UsernsMode"] == "auto" and info["Security"]["UidMap"] == [[0, first_ids[0], 65536]]
        assert info["Security"]["GidMap"] == [[0, first_ids[1], 65536]]
        through = Path(f"/proc/{unit_property(f'sdc-{name}.service', 'MainPID')}/root/new")
        assert through.stat().st_uid == first_ids[0]  # what it wrote, through its idmapped root: its range's
        if driver == "overlay":  # its upper holds what it writes as the host sees it ...
            upper = Path(json.loads(sdc.ok("inspect", name))[0]["Storage"]["UpperDir"])
            assert (upper / "new").stat().st_uid == first_ids[0]
        else:  # ... the others keep it on disk as the image's files are
            assert (rootfs_of(sdc, name) / "new").stat().st_uid == 0
        # sdc exec enters its user namespace too: root there, its range outside
        assert sdc.ok("exec", name, "sh", "-c", "id -u; cat /proc/self/uid_map | tr -s ' '") == (
            f"0\n 0 {first_ids[0]} 65536\n")
        sdc.ok("exec", name, "sh", "-c", "mkdir /data && chown 5:6 /data")
        sdc.ok("exec", "-u", "5:6", name, "sh", "-c", "echo x > /data/by5")
        changed = sdc.ok("diff", name).splitlines()  # in its own ids: nothing else looks changed
        assert sorted(changed) == ["A /data", "A /data/by5", "A /new"], changed
        sdc.ok("commit", name, f"{name}-image")  # its changes are a layer like any other's, in its own ids
        assert sdc.ok("run", "--rm", f"{name}-image", "stat", "-c", "%u:%g", "/new", "/data/by5") == (
            "0:0\n5:6\n")
        sdc.ok("rmi", f"{name}-image")
        freed = host_ids(name)[0]
        sdc.ok("rm", "-f", name)
        third = f"{name}-3"
        sdc.ok("run", "-d", "--userns=auto", "--name", third, image, "sleep", "1000")
        assert host_ids(third)[0] == freed  # rm freed its range
        sdc.ok("rm", "-f", third)
    finally:
        sdc("rm", "-f", second)


def test_a_foreground_container_too(sdc: Sdc, image: str, subids: None) -> None:
    proc = sdc("run", "--rm", "--userns=auto", image, "sh", "-c", "id -u; cat /proc/self/uid_map | tr -s ' '")
    assert proc.returncode == 0 and proc.stdout.splitlines()[0] == "0", proc.stderr
    assert int(proc.stdout.split()[2]) >= BASE


def test_without_sdcs_ids_a_range_is_made_on_first_use(sdc: Sdc, image: str, store: Path) -> None:
    """A host with no `sdc` ranges: the first --userns=auto adds them (as Docker its dockremap's);
    one whose ids leave no room is one line, and nothing made."""
    before = {path: path.read_text() if path.exists() else None for path in SUBID_FILES}
    try:
        for path in SUBID_FILES:
            path.write_text("".join(line + "\n" for line in (before[path] or "").splitlines()
                                    if not line.startswith("sdc:")))  # fmt: skip
        proc = sdc("run", "--rm", "--userns=auto", image, "sh", "-c", "cat /proc/self/uid_map | tr -s ' '")
        assert proc.returncode == 0 and int(proc.stdout.split()[1]) >= 2**31, (proc.stdout, proc.stderr)
        assert proc.stderr.count("added sdc:") == 2  # said, once for each file
        assert all("sdc:" in path.read_text() for path in SUBID_FILES)
        assert sdc("run", "--rm", "--userns=auto", image, "true").stderr == ""  # there now: nothing more said
        for path in SUBID_FILES:
            path.write_text("full:100000:4294800000\n")
        state = store_state(store)
        proc = sdc("run", "-d", "--userns=auto", image, "true")
        assert proc.returncode == 125 and "--userns=auto: no ids for sdc" in proc.stderr, proc.stderr
        assert proc.stderr.count("\n") == 1 and store_state(store) == state
    finally:
        for path, text in before.items():
            if text is None:
                path.unlink(missing_ok=True)
            else:
                path.write_text(text)


@pytest.mark.drivers("btrfs")  # a store of its own: once is enough
def test_vfs_on_a_file_system_with_idmapped_mounts_and_without(
    fresh_sdc: Sdc, busybox_tar: Path, subids: None, tmp_path: Path
) -> None:
    """vfs keeps each container's root as a plain directory on the store's file system: idmapped
    where that file system can be (tmpfs here, Linux 6.3+), a one-line error where it cannot (the
    test host's overlayfs /var/lib), never the host's root."""
    refused = Sdc(fresh_sdc.root, "vfs")
    refused.ok("import", str(busybox_tar), "bb")
    before = store_state(refused.root)
    proc = refused("run", "--rm", "--userns=auto", "bb", "true")
    assert proc.returncode == 125 and "idmapped mounts need" in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1 and store_state(refused.root) == before
    root = tmp_path / "store"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "sdc-vfs", str(root)], check=True)
    try:
        vfs = Sdc(root, "vfs")
        vfs.ok("import", str(busybox_tar), "bb")
        out = vfs.ok("run", "--rm", "--userns=auto", "bb", "sh", "-c",
                     "id -u; stat -c %u:%g /bin/busybox; cat /proc/self/uid_map | tr -s ' '; touch /new")  # fmt: skip
        lines = out.splitlines()
        assert lines[:2] == ["0", "0:0"] and int(lines[2].split()[1]) >= BASE, out
    finally:
        subprocess.run(["umount", "-l", str(root)], check=True)


def test_volumes_plain_and_idmapped(sdc: Sdc, image: str, subids: None, tmp_path: Path,
                                    private_tmpfs: Path) -> None:  # fmt: skip
    """A plain volume shows the container's ids inside and its range's on the host (Docker's
    userns-remap); an idmapped one (`:idmap`) the host's own ids on both sides."""
    plain = tmp_path / "plain"
    plain.mkdir()
    plain.chmod(0o777)
    mapped = private_tmpfs / "mapped"
    mapped.mkdir()
    (mapped / "theirs").write_text("x\n")
    os.chown(mapped / "theirs", 1000, 1000)
    script = ("echo a > /plain/f; stat -c %u:%g /plain/f /mapped /mapped/theirs; echo b > /mapped/g; "
              "chown 5:6 /mapped/g; stat -c %u:%g /mapped/g; cat /proc/self/uid_map | tr -s ' '")  # fmt: skip
    out = sdc.ok("run", "--rm", "--userns=auto", "-v", f"{plain}:/plain", "-v", f"{mapped}:/mapped:idmap",
                 image, "sh", "-c", script)  # fmt: skip
    *lines, uid_map = out.splitlines()
    base = int(uid_map.split()[1])
    assert lines == ["0:0", "0:0", "1000:1000", "5:6"] and base >= BASE
    assert (plain / "f").stat().st_uid == base
    assert ((mapped / "g").stat().st_uid, (mapped / "g").stat().st_gid) == (5, 6)


def test_its_own_cgroup_is_there_in_a_user_namespace_too(sdc: Sdc, image: str, subids: None) -> None:
    from tests.integration.test_cgroup_inside import limit_file

    target = limit_file("memory")
    proc = sdc("run", "--rm", "--userns=auto", "-m", "32m", image, "sh", "-c",
               f"cat {target}; echo 1 > {target} || echo refused")  # fmt: skip
    assert proc.returncode == 0 and proc.stdout.split() == [str(32 << 20), "refused"], proc.stderr


def test_an_idmapped_volume_plants_no_setuid_file_a_host_user_can_run(
    sdc: Sdc, image: str, subids: None, store: Path
) -> None:
    """Issue 21, item 2: through `-v SRC:DST:idmap` the container's root writes as the host's root,
    so `chmod 4755` there made a setuid-root file on the host. An idmapped volume must be out of
    every other host user's reach (refused, one line, nothing left, where it is not), and then a
    planted file is nobody's to run but root's; volumes are nosuid,nodev inside."""
    public = Path(tempfile.mkdtemp(dir="/var/lib"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=755", "sdc-public", str(public)], check=True)  # idmappable
    try:
        (public / "vol").mkdir(mode=0o755)
        before = store_state(store)
        proc = sdc("run", "--rm", "--userns=auto", "-v", f"{public}/vol:/v:idmap", image, "true")
        assert proc.returncode == 125 and "other host users can reach" in proc.stderr, proc.stderr
        assert proc.stderr.count("\n") == 1 and store_state(store) == before
        public.chmod(0o700)  # now only root enters it
        plant = "cp /bin/busybox /v/rootsh && chmod 4755 /v/rootsh && grep ' /v ' /proc/self/mountinfo"
        out = sdc.ok("run", "--rm", "--userns=auto", "-v", f"{public}/vol:/v:idmap", image, "sh", "-c", plant)
        assert "nosuid" in out.split(" - ")[0] and "nodev" in out.split(" - ")[0], out
        planted = public / "vol" / "rootsh"
        assert planted.stat().st_uid == 0 and planted.stat().st_mode & 0o4000  # the host's root's, setuid
        from tests.integration.test_escapes import as_nobody

        run = as_nobody(str(planted), "id", "-u")
        assert run.returncode != 0 and "Permission denied" in run.stderr, run
        # The launcher checks again at every start: a volume opened up after `create` is refused then.
        name = f"idmapped-{os.getpid()}"
        sdc.ok("create", "--name", name, "--userns=auto", "-v", f"{public}/vol:/v:idmap", image, "true")
        try:
            public.chmod(0o755)
            proc = sdc("start", "-a", name)
            assert proc.returncode == 125 and "other host users can reach" in proc.stderr, proc.stderr
            # Nor may the way to it have changed: a link where the checked directory was, to
            # another of root's (what a user who may write a directory of the way could do).
            public.chmod(0o700)
            (public / "vol").rename(public / "moved")
            (public / "vol").symlink_to(public / "moved")
            proc = sdc("start", "-a", name)
            assert proc.returncode == 125 and "change the way" in proc.stderr, proc.stderr
        finally:
            sdc("rm", "-f", name)
    finally:
        subprocess.run(["umount", str(public)], check=True)
        public.rmdir()


def test_volumes_are_nosuid_and_nodev_unless_asked(sdc: Sdc, image: str, tmp_path: Path) -> None:
    script = "grep -E ' /(plain|suid) ' /proc/self/mountinfo | cut -d' ' -f5,6"
    out = sdc.ok("run", "--rm", "-v", f"{tmp_path}:/plain", "-v", f"{tmp_path}:/suid:suid,dev,noexec", image,
                 "sh", "-c", script)  # fmt: skip
    mounts = dict(line.split(" ", 1) for line in out.splitlines())
    assert {"nosuid", "nodev"} <= set(mounts["/plain"].split(",")), mounts
    assert "nosuid" not in mounts["/suid"] and "nodev" not in mounts["/suid"] and "noexec" in mounts["/suid"], mounts
