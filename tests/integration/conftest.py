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

    def __init__(self, root: Path) -> None:
        self.root = root

    def env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, "SDC_ROOT": str(self.root), **extra}

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


@pytest.fixture(scope="session")
def store() -> Iterator[Path]:
    with new_store() as root:
        yield root


@pytest.fixture()
def fresh_sdc() -> Iterator[Sdc]:
    """sdc on a store of its own, empty, for round trips between stores."""
    with new_store() as root:
        yield Sdc(root)


@pytest.fixture(scope="session")
def sdc(store: Path) -> Sdc:
    return Sdc(store)


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
    sdc("rm", "-f", cname)


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
        "units": sdc_units(),
        "mounts": sorted(m for m in mounts if m.startswith(str(root)) and m != str(root / "storage")),  # not the pool
    }


def rootfs_of(sdc: Sdc, name: str) -> Path:
    """A running container's root filesystem as the host can read it."""
    info = json.loads(sdc.ok("inspect", name))[0]
    if info["Storage"]["Driver"] == "overlay":  # mounted in the container's namespace only
        return Path(f"/proc/{info['State']['MainPID']}/root")
    return Path(info["Storage"]["RootFs"])
