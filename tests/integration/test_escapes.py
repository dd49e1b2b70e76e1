"""Escapes found by an adversarial probe (issue 13), each tried for real against the real systemd."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc, host_path, make_busybox_rootfs, unit_property

# The attack of CVE-2019-5736 on a Python launcher: the kernel runs the binary of the process
# that exec'ed the command as the script's interpreter; it keeps /proc/self/exe open, execs a
# shell so that it no longer runs that binary itself, and tries to reopen it for writing until
# the error is something else than ETXTBSY (another process still running it). It only opens:
# even a regression must not write into the interpreter of the machine running the tests.
EVIL = r"""#!/proc/self/exe -S
import os
fd = os.open("/proc/self/exe", os.O_PATH)
os.set_inheritable(fd, True)
print("holding the interpreter", flush=True)
os.execv("/bin/sh", ["sh", "-c", '''
say() { echo "$1" > /tmp/result; echo "$1"; }
for i in $(seq 1 300); do
  if ( : >> /proc/self/fd/%d ) 2>/tmp/err; then say OPENED-HOST-BINARY; exit 0; fi
  grep -q busy /tmp/err || break
  sleep 0.1
done
say "could not open: $(cat /tmp/err)"
''' % fd])
"""


def _copy_with_libraries(exe: str, root: Path) -> None:
    """What exe needs to start inside root: its shared libraries and the stdlib's encodings."""
    for line in subprocess.run(["ldd", exe], capture_output=True, text=True, check=True).stdout.splitlines():
        words = line.split()
        path = words[2] if "=>" in words and len(words) > 2 else words[0]
        if path.startswith("/"):
            dest = root / path.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(os.path.realpath(path), dest)
    stdlib = subprocess.run(
        [exe, "-I", "-S", "-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    shutil.copytree(Path(stdlib) / "encodings", root / stdlib.lstrip("/") / "encodings")


@pytest.fixture(scope="module")
def private_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sdc on a copy of the interpreter that nothing else runs (pytest runs the venv's), so that
    ETXTBSY cannot hide whether the launcher's binary is writable from a container."""
    venv = tmp_path_factory.mktemp("python-copy")
    subprocess.run([sys.executable, "-m", "venv", "--copies", "--without-pip", "--clear", str(venv)], check=True)
    return venv / "bin" / "python"


@pytest.fixture(scope="module")
def pyx(sdc: Sdc, private_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("pyx")
    root = work / "rootfs"
    make_busybox_rootfs(root)
    (root / "tmp").mkdir()
    _copy_with_libraries(os.path.realpath(private_python), root)
    shutil.copy2(os.path.realpath(private_python), root / "bin" / "python")  # for a container to plant
    (root / "bin" / "evil").write_text(EVIL)
    (root / "bin" / "evil").chmod(0o755)
    with tarfile.open(work / "pyx.tar", "w") as tar:
        tar.add(root, arcname=".")
    sdc.ok("import", str(work / "pyx.tar"), "pyx")
    yield "pyx"
    sdc("rmi", "-f", "pyx")


def _sdc_on(python: Path, *args: str) -> list[str]:
    return [str(python), "-m", "sdcontainer", *args]


def _env_for(python: Path, sdc: Sdc) -> dict[str, str]:
    """The copied interpreter finds sdc and its dependencies where the venv has them."""
    site = sysconfig.get_paths()["purelib"]
    return sdc.env(PYTHONPATH=f"{Path(__file__).parents[2]}:{site}")


def _wait_until_ended(unit: str, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while unit_property(unit, "ActiveState") in ("active", "activating", "deactivating"):
        assert time.monotonic() < deadline, f"{unit} did not end"
        time.sleep(0.2)


def _sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_a_detached_container_cannot_open_the_launchers_interpreter(
    sdc: Sdc, pyx: str, private_python: Path, name: str
) -> None:
    binary = os.path.realpath(private_python)
    before = _sha256(binary)
    run = subprocess.run(_sdc_on(private_python, "run", "-d", "--name", name, pyx, "/bin/evil"),
                         capture_output=True, text=True, env=_env_for(private_python, sdc), timeout=60)  # fmt: skip
    assert run.returncode == 0, run.stderr
    _wait_until_ended(f"sdc-{name}.service")
    logs = sdc.ok("logs", name)
    assert "holding the interpreter" in logs
    assert "OPENED-HOST-BINARY" not in logs
    assert "could not open: sh: can't create /proc/self/fd/3: Read-only file system" in logs, logs
    assert _sha256(binary) == before


def test_a_foreground_container_cannot_open_the_launchers_interpreter(
    sdc: Sdc, pyx: str, private_python: Path, name: str, store: Path
) -> None:
    """Even once the launcher is gone (killed, say by the OOM killer) while the container lives on."""
    binary = os.path.realpath(private_python)
    before = _sha256(binary)
    proc = subprocess.Popen(_sdc_on(private_python, "run", "--name", name, pyx, "/bin/evil"),
                            stdout=subprocess.PIPE, text=True, env=_env_for(private_python, sdc))  # fmt: skip
    assert proc.stdout is not None
    assert proc.stdout.readline() == "holding the interpreter\n"
    pid1 = int((store / "containers" / name / "pid").read_text())
    status = Path(f"/proc/{pid1}/status").read_text()
    launcher = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
    assert os.path.realpath(f"/proc/{launcher}/exe") == binary
    result = host_path(sdc, name, "tmp/result")  # its output went with the launcher, which relayed it
    os.kill(launcher, 9)  # now neither sdc nor the launcher runs the binary: ETXTBSY is no shield
    proc.wait(timeout=30)
    deadline = time.monotonic() + 40
    while not result.exists():
        assert time.monotonic() < deadline, "the container never said what it could do"
        time.sleep(0.1)
    time.sleep(0.1)
    rest = result.read_text()
    assert "OPENED-HOST-BINARY" not in rest
    assert "could not open: sh: can't create /proc/self/fd/3: Read-only file system" in rest, rest
    assert _sha256(binary) == before


def as_nobody(*argv: str, caps: str = "") -> subprocess.CompletedProcess[str]:
    """argv run by uid 65534 with no capability (but caps, e.g. "+dac_read_search", as ambient ones).

    Through a shell: setpriv itself keeps root's capabilities until its own exec."""
    setpriv = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]
    if caps:
        setpriv += ["--inh-caps", caps, "--ambient-caps", caps]
    return subprocess.run([*setpriv, "sh", "-c", 'exec "$@"', "sh", *argv], capture_output=True, text=True)


def test_host_users_cannot_reach_the_store_nor_run_its_setuid_files(
    sdc: Sdc, pyx: str, private_python: Path, name: str, store: Path
) -> None:
    # The container plants a setuid-root copy of an interpreter (the image holds one) in its /tmp.
    plant = ("cp /bin/python /tmp/.suid && chmod 4755 /tmp/.suid && stat -c 'planted %a:%u' /tmp/.suid && "
             "awk '$5 == \"/\" { print \"root mount\", $6 }' /proc/self/mountinfo && exec sleep 1000")  # fmt: skip
    sdc.ok("run", "-d", "--name", name, pyx, "sh", "-c", plant)
    deadline = time.monotonic() + 10
    while "root mount" not in (logs := sdc.ok("logs", name)):
        assert time.monotonic() < deadline, logs
        time.sleep(0.1)
    # Inside, the file is what the container made it, on a mount that honours setuid (no_new_privs,
    # always set by sdc, is what keeps it from raising privileges there).
    assert "planted 4755:0" in logs
    root_mount = next(line for line in logs.splitlines() if line.startswith("root mount")).split()[2]
    assert "nosuid" not in root_mount.split(","), root_mount
    planted = host_path(sdc, name, "tmp/.suid")
    assert planted.stat().st_mode & 0o7777 == 0o4755 and planted.stat().st_uid == 0

    # A host user can neither list nor traverse the store.
    for path in (store, store / "storage", store / "storage" / "containers", store / "containers", planted):
        proc = as_nobody("ls", str(path))
        assert proc.returncode != 0 and "Permission denied" in proc.stderr, (path, proc.stderr)
    proc = as_nobody(str(planted), "-c", "pass")
    assert proc.returncode != 0 and "Permission denied" in proc.stderr

    # And one who could traverse it (here: given CAP_DAC_READ_SEARCH) runs the file as itself: the
    # store's mount is nosuid on the host's side.
    assert json.loads((store / "storage.json").read_text())["pool"] is True
    options = subprocess.run(["findmnt", "-n", "-o", "OPTIONS", str(store / "storage")],
                             capture_output=True, text=True).stdout  # fmt: skip
    assert {"nosuid", "nodev"} <= set(options.strip().split(","))
    proc = as_nobody(str(planted), "-I", "-S", "-c", "import os; print(os.geteuid())", caps="+dac_read_search")
    assert (proc.returncode, proc.stdout) == (0, "65534\n"), proc.stderr


def _pool_loop_device(store: Path) -> str:
    out = subprocess.run(["losetup", "-j", str(store / "pool.raw"), "-O", "NAME", "-n"],
                         capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    assert len(out) == 1, out
    return out[0]


def test_a_container_can_make_but_not_open_the_stores_loop_device(sdc: Sdc, image: str, store: Path) -> None:
    loop = _pool_loop_device(store)
    rdev = os.stat(loop).st_rdev
    os.close(os.open(loop, os.O_RDONLY))  # the test host's own root can open it
    script = (f"mknod /dev/pool b {os.major(rdev)} {os.minor(rdev)} && echo made; "
              "head -c 512 /dev/pool >/dev/null || echo refused; ( : >> /dev/pool ) || echo refused")  # fmt: skip
    proc = sdc("run", "--rm", image, "sh", "-c", script)
    assert proc.stdout == "made\nrefused\nrefused\n"
    assert proc.stderr.count("Operation not permitted") == 2, proc.stderr


def test_an_images_device_node_cannot_be_opened(sdc: Sdc, store: Path, tmp_path: Path) -> None:
    """The probe's image: a 0666 node for the store's loop device, opened by a user without capabilities."""
    loop = _pool_loop_device(store)
    rdev = os.stat(loop).st_rdev
    root = tmp_path / "rootfs"
    make_busybox_rootfs(root)
    archive = tmp_path / "node.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(root, arcname=".")
        node = tarfile.TarInfo("pool")
        node.type, node.mode = tarfile.BLKTYPE, 0o666
        node.devmajor, node.devminor = os.major(rdev), os.minor(rdev)
        tar.addfile(node)
    sdc.ok("import", str(archive), "node")
    try:
        proc = sdc("run", "--rm", "-u", "1000", "node", "sh", "-c", "ls -l /pool; head -c 512 /pool >/dev/null")
        assert proc.returncode != 0
        assert proc.stdout.startswith("brw-rw-rw-")
        assert proc.stderr == "head: /pool: Operation not permitted\n"
    finally:
        sdc.ok("rmi", "node")


def test_every_container_unit_has_a_closed_device_cgroup(sdc: Sdc, image: str, name: str) -> None:
    """systemd's view of the unit, and the kernel's: on cgroup v1 the devices controller's list."""
    expected = {"c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm", "c 5:0 rwm", "c 5:2 rwm",
                "c 136:* rwm", "c *:* m", "b *:* m"}  # fmt: skip
    # systemd allows its own "inaccessible" nodes too (c 0:0, b 0:0), which no driver backs.
    systemd_own = {"c 0:0 rwm", "b 0:0 rwm"}
    sdc.ok("run", "-d", "--name", name, image, "sleep", "1000")
    fg = subprocess.Popen(sdc.argv("run", "--name", f"{name}-fg", image, "sh", "-c", "echo up; exec sleep 1000"),
                          stdout=subprocess.PIPE, text=True, env=sdc.env())  # fmt: skip
    try:
        assert fg.stdout is not None and fg.stdout.readline() == "up\n"
        for unit in (f"sdc-{name}.service", f"sdc-{name}-fg.scope"):
            shown = subprocess.run(["systemctl", "show", unit, "-p", "DevicePolicy", "-p", "DeviceAllow"],
                                   capture_output=True, text=True).stdout  # fmt: skip
            assert "DevicePolicy=closed" in shown and "DeviceAllow=/dev/null rwm" in shown, shown
            listed = Path(f"/sys/fs/cgroup/devices/machine.slice/machine-sdc.slice/{unit}/devices.list")
            assert set(listed.read_text().split("\n")) - {""} - systemd_own == expected, unit
    finally:
        sdc("rm", "-f", f"{name}-fg")
        fg.wait(timeout=30)


# The probe's cgroup escape: container root makes a user namespace (which needs no capability
# and gives every one inside it), with a mount and a cgroup namespace, mounts a cgroup v1
# hierarchy (rooted at its own cgroup) and writes its own limit.
ESCAPE_C = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static void put(const char *path, const char *text) {
    int fd = open(path, O_WRONLY);
    if (fd < 0 || write(fd, text, strlen(text)) < 0) { printf("write %s: %s\n", path, strerror(errno)); exit(1); }
    close(fd);
}

int main(int argc, char **argv) {  /* escape CONTROLLER FILE VALUE */
    char text[64], path[256];
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (argc != 4) return 2;
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWCGROUP) < 0) {
        printf("unshare: %s\n", strerror(errno));
        return 1;
    }
    put("/proc/self/setgroups", "deny");
    snprintf(text, sizeof text, "0 %d 1", uid); put("/proc/self/uid_map", text);
    snprintf(text, sizeof text, "0 %d 1", gid); put("/proc/self/gid_map", text);
    mkdir("/tmp/cg", 0755);
    if (mount("cgroup", "/tmp/cg", "cgroup", 0, argv[1]) < 0) { printf("mount: %s\n", strerror(errno)); return 1; }
    snprintf(path, sizeof path, "/tmp/cg/%s", argv[2]);
    put(path, argv[3]);
    printf("wrote %s %s\n", argv[2], argv[3]);
    return 0;
}
"""


@pytest.fixture(scope="module")
def escape_image(sdc: Sdc, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("escape")
    root = work / "rootfs"
    make_busybox_rootfs(root)
    (root / "tmp").mkdir()
    (work / "escape.c").write_text(ESCAPE_C)
    subprocess.run(["gcc", "-static", "-O1", "-o", str(root / "bin" / "escape"), str(work / "escape.c")], check=True)
    with tarfile.open(work / "escape.tar", "w") as tar:
        tar.add(root, arcname=".")
    sdc.ok("import", str(work / "escape.tar"), "escape")
    yield "escape"
    sdc("rmi", "-f", "escape")


def test_a_container_cannot_lift_its_own_limits_through_a_user_namespace(
    sdc: Sdc, escape_image: str, name: str
) -> None:
    script = ("escape memory memory.limit_in_bytes 4294967296; escape pids pids.max max; "
              "unshare -U -r true || echo refused; unshare -m true || echo refused; "
              "grep Seccomp: /proc/self/status; echo done; exec sleep 1000")  # fmt: skip
    sdc.ok("run", "-d", "--name", name, "-m", "64m", "--pids-limit", "50", escape_image, "sh", "-c", script)
    deadline = time.monotonic() + 10
    while "done" not in (logs := sdc.ok("logs", name)):
        assert time.monotonic() < deadline, logs
        time.sleep(0.1)
    assert logs.count("unshare: Operation not permitted") == 2, logs
    assert logs.count("refused") == 2 and "Seccomp:\t2" in logs, logs
    assert "wrote" not in logs
    unit = f"sdc-{name}.service"
    cgroup = Path("/sys/fs/cgroup")
    memory = cgroup / "memory/machine.slice/machine-sdc.slice" / unit / "memory.limit_in_bytes"
    assert memory.read_text().strip() == str(64 << 20)
    assert (cgroup / "pids/machine.slice/machine-sdc.slice" / unit / "pids.max").read_text().strip() == "50"
    assert unit_property(unit, "MemoryMax") == str(64 << 20)


def test_no_fd_of_the_callers_reaches_the_command_however_high(sdc: Sdc, image: str) -> None:
    """An inheritable fd sdc got from its caller goes to the launcher it starts: none may reach PID 1.
    The launcher closed fds up to 65535 only; fd 70000 needs a hard limit root raises with
    CAP_SYS_RESOURCE, which some machines (this project's VM) deny even to root: there the
    highest fd the machine allows is used, and a warning says so."""
    import resource
    import warnings

    high = 70000
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[0], high + 1))
    except ValueError:
        high = resource.getrlimit(resource.RLIMIT_NOFILE)[1] - 1
        warnings.warn(f"no CAP_SYS_RESOURCE here: fd {high} is the highest this test can open", stacklevel=1)

    def open_high_fd() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (high + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
        os.dup2(os.open("/etc/hostname", os.O_RDONLY), high)  # dup2 makes it inheritable

    proc = subprocess.run(sdc.argv("run", "--rm", image, "ls", "/proc/self/fd"), capture_output=True, text=True,
                          env=sdc.env(), preexec_fn=open_high_fd)  # fmt: skip
    assert (proc.returncode, proc.stdout.split()) == (0, ["0", "1", "2", "3"]), proc.stderr  # 3: ls's own


@pytest.mark.parametrize("linked", ["etc", "dev"])
def test_a_symlink_above_a_mount_destination_leads_nowhere_outside_the_root(tmp_path: Path, linked: str) -> None:
    """A container's own layer kept across starts (or an image) can hold /etc -> /host/path: the
    launcher makes the mount points of /etc/hostname and /dev/... inside the root, and mounts there.
    Run here on a hand-made bundle (sdc's import refuses such an image today)."""
    from sdcontainer import bundle, protocol, seccomp
    from sdcontainer.containerspec import ContainerSpec
    from sdcontainer.spec import DEFAULT_CAPS

    outside = Path(f"/var/tmp/sdc-escape-{os.getpid()}")
    outside.mkdir()  # there already: an old launcher made its hostname file, and mounted over it, here
    dev_outside = Path(f"/var/tmp/sdc-escape-dev-{os.getpid()}")
    try:
        root = tmp_path / "rootfs"
        make_busybox_rootfs(root)
        for d in ("proc", "sys", "tmp", "dev"):
            (root / d).mkdir()
        if linked == "etc":  # /etc/hostname's parent, aimed at a host directory that exists
            shutil.rmtree(root / "etc")
            (root / "etc").symlink_to(outside)
        else:  # a mount point under a symlinked directory, dangling: /dev/pts...
            (root / "dev").rmdir()
            (root / "dev").symlink_to(dev_outside)
        work = tmp_path / "bundle"
        work.mkdir()
        (work / "rootfs").symlink_to(root)
        for name, text in (("hostname", "inside\n"), ("hosts", ""), ("resolv.conf", "")):
            (work / name).write_text(text)
        spec = ContainerSpec(name="inside", image="x", command=("sh", "-c", "cat /etc/hostname; ls -d /dev/pts"))
        config = bundle.build_runtime_config(spec, image_config={}, container_dir=work)
        (work / protocol.CONFIG).write_text(json.dumps(config))
        (work / protocol.SECCOMP).write_bytes(seccomp.program_for(tmp_path, None, caps=DEFAULT_CAPS) or b"")
        read, write = os.pipe()
        launcher = Path(bundle.__file__).with_name("launcher_entry.py")
        proc = subprocess.Popen([sys.executable, "-I", "-S", str(launcher), "--foreground", str(read)],
                                pass_fds=[read], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        os.close(read)
        os.write(write, f"{work}\n".encode())
        os.close(write)
        out, err = proc.communicate(timeout=30)
        assert (proc.returncode, out) == (0, "inside\n/dev/pts\n"), err
        assert list(outside.iterdir()) == [] and not dev_outside.exists()  # nothing made on the host ...
        mounts = Path("/proc/self/mountinfo").read_text()
        assert str(outside) not in mounts and str(dev_outside) not in mounts  # ... nor mounted over
        made = outside / "hostname" if linked == "etc" else dev_outside  # /dev's: pts was in its tmpfs
        assert (root / made.relative_to("/")).exists()  # the mount point, made inside the root
    finally:
        shutil.rmtree(outside, ignore_errors=True)
        shutil.rmtree(dev_outside, ignore_errors=True)
