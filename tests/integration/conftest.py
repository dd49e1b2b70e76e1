"""Integration fixtures: a real systemd, root, btrfs. Run by `./dev test` (in the test host)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

BUSYBOX = Path("/bin/busybox")
# Every test of a store runs on each of these drivers (the store's, and fresh_sdc's);
# @pytest.mark.drivers("btrfs") keeps a test that is about one driver to it.
DRIVERS = ("btrfs", "overlay")


def _environment_problem() -> str | None:
    if os.geteuid() != 0:
        return "integration tests need root"
    if not Path("/run/systemd/system").is_dir():
        return "integration tests need systemd as PID 1 (./dev test boots a test host for them)"
    if not BUSYBOX.exists():
        return "integration tests need busybox-static"
    return None


@pytest.fixture(scope="session", autouse=True)
def _require_environment() -> None:
    problem = _environment_problem()
    if problem is None:
        return
    if os.environ.get("SDC_SKIP_INTEGRATION") == "1":
        pytest.skip(problem)
    pytest.fail(f"{problem}; set SDC_SKIP_INTEGRATION=1 to skip them knowingly")


class Sdc:
    """Drives the real CLI, as a user would, against one store."""

    def __init__(self, root: Path, driver: str | None = None) -> None:
        self.root, self.driver = root, driver

    def env(self, **extra: str) -> dict[str, str]:
        """sdc's environment here: the suite's store and driver; and no network unless a test asks
        for one (SDC_NETWORK=none): each networked run costs ~0.6 s of netavark and iptables, and
        the tests of networks ask for theirs (test_network_modes runs the default itself)."""
        driver = {"SDC_STORAGE_DRIVER": self.driver} if self.driver else {}
        return {**os.environ, "SDC_ROOT": str(self.root), "SDC_NETWORK": "none", **driver, **extra}

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "sdcontainer", *args]

    def __call__(
        self, *args: str, input: bytes | None = None, timeout: float = 120, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            self.argv(*args), input=input, capture_output=True, timeout=timeout, env=env or self.env()
        )
        return subprocess.CompletedProcess(
            proc.args, proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
        )

    def ok(self, *args: str, **kw: object) -> str:
        proc = self(*args, **kw)  # type: ignore[arg-type]
        assert proc.returncode == 0, f"sdc {' '.join(args)} failed ({proc.returncode}): {proc.stderr}"
        return proc.stdout


def make_busybox_rootfs(dest: Path) -> None:
    (dest / "bin").mkdir(parents=True)
    (dest / "etc").mkdir()
    shutil.copy2(BUSYBOX, dest / "bin" / "busybox")
    applets = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            (dest / "bin" / applet).symlink_to("busybox")
    (dest / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n")


@contextlib.contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """An HTTP server on the test host's loopback serving directory's files (its port the kernel's
    pick: no race for one), for the length of the block: its base URL."""
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def tar_directory(src: Path, dest: Path, *, extra: dict[str, int] | None = None) -> Path:
    """A tarball of src; extra maps member names to sizes of files to add, filled with a byte that
    is not zero (sdc writes runs of zeros as holes: such files would cost the store nothing)."""
    with tarfile.open(dest, "w") as tar:
        tar.add(src, arcname=".")
        for name, size in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = size
            tar.addfile(info, Filler(size))
    return dest


class Filler(io.RawIOBase):
    """size bytes of one value, read without holding them all."""

    def __init__(self, size: int, byte: int = 1) -> None:
        self.left = size
        self.block = bytes([byte]) * (1 << 20)

    def readable(self) -> bool:
        return True

    def readinto(self, buf: bytearray) -> int:  # type: ignore[override]
        n = min(len(buf), self.left, len(self.block))
        buf[:n] = self.block[:n]
        self.left -= n
        return n


@contextlib.contextmanager
def new_store() -> Iterator[Path]:
    root = Path(f"/var/lib/sdc-test-{secrets.token_hex(4)}")
    yield root
    sdc = Sdc(root)
    for line in sdc("ps", "-aq").stdout.split():
        sdc("rm", "-f", line)
    storage = root / "storage"
    if subprocess.run(["mountpoint", "-q", str(storage)]).returncode == 0:
        subprocess.run(["umount", str(storage)], check=True)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session", params=DRIVERS)
def driver(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked drivers(...) runs on those only."""
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("drivers")
        param = getattr(item, "callspec", None) and item.callspec.params.get("driver")  # type: ignore[attr-defined]
        (drop if marker and param and param not in marker.args else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def store(driver: str) -> Iterator[Path]:
    with new_store() as root:
        yield root


@pytest.fixture()
def fresh_sdc(driver: str) -> Iterator[Sdc]:
    """sdc on a store of its own, empty, of the session's driver, for round trips between stores."""
    with new_store() as root:
        yield Sdc(root, driver)


@pytest.fixture(scope="session")
def sdc(store: Path, driver: str) -> Sdc:
    return Sdc(store, driver)


@pytest.fixture(scope="session")
def busybox_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("busybox")
    make_busybox_rootfs(work / "rootfs")
    return tar_directory(work / "rootfs", work / "busybox.tar")


@pytest.fixture(scope="session")
def image(sdc: Sdc, busybox_tar: Path) -> str:
    sdc.ok("import", str(busybox_tar), "bb")
    return "bb"


@pytest.fixture
def name(sdc: Sdc, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh container name, force-removed after the test whatever happened."""
    base = "".join(c if c.isalnum() else "-" for c in request.node.name)[:40].strip("-")
    cname = f"{base}-{secrets.token_hex(2)}"
    yield cname
    sdc("rm", "-f", "-v", cname)


@pytest.fixture
def net(sdc: Sdc, name: str) -> Iterator[str]:
    """A network's name, removed (with its containers) after the test."""
    network = f"{name[:40]}-net"
    yield network
    sdc("network", "rm", "-f", network)


BASE, COUNT = 1_000_000, 3 * 65536
SUBID_FILES = (Path("/etc/subuid"), Path("/etc/subgid"))


@pytest.fixture
def subids() -> Iterator[None]:
    """sdc's lines in the test host's /etc/subuid and /etc/subgid (its own overlay of the VM's)."""
    before = {path: path.read_text() if path.exists() else None for path in SUBID_FILES}
    for path in SUBID_FILES:
        path.write_text((before[path] or "") + f"sdc:{BASE}:{COUNT}\n")
    yield
    for path, text in before.items():
        if text is None:
            path.unlink()
        else:
            path.write_text(text)


@pytest.fixture
def private_tmpfs() -> Iterator[Path]:
    """A tmpfs (a file system with idmapped mounts) of root's alone, mode 0700, on a path of root's
    directories: where an idmapped volume may be (volumes.py)."""
    import tempfile

    where = Path(tempfile.mkdtemp(dir="/var/lib"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=700", "sdc-private", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)
        where.rmdir()


def systemctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemctl", *args], capture_output=True, text=True)


def unit_property(unit: str, prop: str) -> str:
    return systemctl("show", unit, "-p", prop, "--value").stdout.strip()


def sdc_units() -> list[str]:
    out = systemctl("list-units", "--all", "--plain", "--no-legend", "sdc-*").stdout
    return sorted(line.split()[0] for line in out.splitlines() if line.strip())


def store_state(root: Path) -> dict[str, object]:
    """Everything a failed command could leave behind."""

    def listing(path: Path) -> list[str]:
        return sorted(p.name for p in path.iterdir()) if path.exists() else []

    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    return {
        "containers": listing(root / "containers"),
        "container_fs": listing(root / "storage" / "containers"),
        "tmp_layers": listing(root / "storage" / "tmp"),
        "tmp_records": listing(root / "tmp"),
        "layers": listing(root / "storage" / "layers"),
        "layer_records": listing(root / "layers"),
        "images": listing(root / "images"),
        "volumes": listing(root / "volumes"),
        "volume_fs": listing(root / "storage" / "volumes"),
        "units": sdc_units(),
        "mounts": sorted(m for m in mounts if m.startswith(str(root)) and m != str(root / "storage")),  # not the pool
    }


def layer_files(sdc: Sdc, layer_id: str) -> Path:
    """A layer's own files (overlay: its diff; btrfs and vfs: its whole tree)."""
    path = sdc.root / "storage" / "layers" / layer_id.replace(":", "-")
    return path / "diff" if (path / "diff").is_dir() and (path / "lower").exists() else path


def host_path(sdc: Sdc, name: str, rel: str) -> Path:
    """Where a file a running container made is on the host's side (overlay: its upper directory)."""
    storage = json.loads(sdc.ok("inspect", name))[0]["Storage"]
    return Path(storage.get("UpperDir") or storage["RootFs"]) / rel


def rootfs_of(sdc: Sdc, name: str) -> Path:
    """A running container's root filesystem as the host can read it."""
    info = json.loads(sdc.ok("inspect", name))[0]
    if info["Storage"]["Driver"] == "overlay":  # mounted in the container's namespace only
        return Path(f"/proc/{info['State']['MainPID']}/root")
    return Path(info["Storage"]["RootFs"])


NOTIFY_C = r"""
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
/* notify MESSAGE: sd_notify(3) with its barrier, so that systemd has read the message (and found
   our cgroup, by our PID) before we exit. */
static int send_to(int fd, struct sockaddr_un *a, const char *text, int pass) {
    struct iovec iov = {.iov_base = (void *)text, .iov_len = strlen(text)};
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } control;
    struct msghdr m = {.msg_name = a, .msg_namelen = sizeof *a, .msg_iov = &iov, .msg_iovlen = 1};
    if (pass >= 0) {
        m.msg_control = control.buf;
        m.msg_controllen = sizeof control.buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &pass, sizeof(int));
    }
    return sendmsg(fd, &m, 0) < 0;
}
int main(int argc, char **argv) {
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || argc < 2) return 2;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strncpy(a.sun_path, path, sizeof a.sun_path - 1);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0), p[2];
    if (send_to(fd, &a, argv[1], -1) || pipe(p)) return 1;
    if (send_to(fd, &a, "BARRIER=1", p[1])) return 1;
    close(p[1]);
    struct pollfd w = {.fd = p[0], .events = POLLIN};
    return poll(&w, 1, 5000) != 1;
}
"""


@pytest.fixture(scope="session")
def notify_tool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A static sd_notify(1) for busybox, which has none."""
    work = tmp_path_factory.mktemp("notify")
    (work / "notify.c").write_text(NOTIFY_C)
    subprocess.run(["gcc", "-static", "-O1", "-o", str(work / "notify"), str(work / "notify.c")], check=True)
    return work / "notify"
