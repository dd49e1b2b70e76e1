"""The benchmark proper; bench/run installs what it needs and runs it on a systemd host.

Every sdc figure is a ratio to a peer measured in the same run: absolute
times on shared machines drift by 10-20 %. Timing is hyperfine's (warm-up
runs, then --runs runs; median and min-max); the storage layer and density
figures are timed here around the exact operations.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path("/var/lib/sdc-bench")
ROOTFS = Path("/var/lib/sdc-bench-rootfs")
PODMAN = ["podman", "--cgroup-manager", "systemd"]


def sh(*argv: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=check, env=env)


def memory_breakdown(units: list[str]) -> dict[str, int]:
    """Page cache and anonymous memory summed over units (memory.stat, cgroup v1 or v2)."""
    total = {"file": 0, "anon": 0}
    for unit in units:
        group = sh("systemctl", "show", "-p", "ControlGroup", "--value", unit).stdout.strip()
        for path, keys in (
            (f"/sys/fs/cgroup/memory{group}/memory.stat", ("cache", "rss")),
            (f"/sys/fs/cgroup{group}/memory.stat", ("file", "anon")),
        ):
            if os.path.exists(path):
                stat = dict(line.split() for line in open(path))
                total["file"] += int(stat.get(keys[0], 0))
                total["anon"] += int(stat.get(keys[1], 0))
                break
    return total


def send_gib(port: int) -> None:
    """1 GiB to 127.0.0.1:port (retried until something listens), then its end, then the server's."""
    import socket

    deadline = time.monotonic() + 10
    while True:
        try:
            conn = socket.create_connection(("127.0.0.1", port), timeout=30)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    chunk = bytes(1 << 20)
    with conn:
        for _ in range(1024):
            conn.sendall(chunk)
        conn.shutdown(socket.SHUT_WR)
        conn.recv(1)


class Bench:
    def __init__(self, cache: Path, runs: int, warmup: int, deb: Path | None, quick: bool = False) -> None:
        self.cache = cache
        self.quick = quick
        self.runs = runs
        self.warmup = warmup
        self.deb = deb
        self.sdc = "/usr/bin/sdc" if deb else str(cache / "venv" / "bin" / "sdc")
        self.python = str(cache / "venv" / "bin" / "python")
        self.env = {**os.environ, "SDC_ROOT": str(ROOT)}
        os.environ["SDC_ROOT"] = str(ROOT)
        self.results: dict[str, dict[str, float]] = {}
        self.rows: list[tuple[str, str, str, str]] = []

    # --- measuring ------------------------------------------------------------------------
    def hyperfine(self, commands: dict[str, str], *, runs: int | None = None, ignore_failure: bool = False) -> None:
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            argv = [
                "hyperfine",
                "-N",
                "--style",
                "none",
                "-w",
                str(self.warmup),
                "-r",
                str(runs or self.runs),
                "--export-json",
                out.name,
            ]
            if ignore_failure:
                argv.append("-i")
            for name, command in commands.items():
                argv += ["-n", name, command]
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
            data = json.load(open(out.name))
        for result in data["results"]:
            self.results[result["command"]] = {
                "median_ms": result["median"] * 1000,
                "min_ms": result["min"] * 1000,
                "max_ms": result["max"] * 1000,
                "mean_ms": result["mean"] * 1000,
            }

    def timed(self, name: str, fn: Callable[[], object], repeat: int = 1) -> None:
        samples = []
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - start) * 1000)
        self.results[name] = {"median_ms": statistics.median(samples), "min_ms": min(samples), "max_ms": max(samples)}

    def ms(self, name: str) -> float:
        return self.results[name]["median_ms"]

    def row(
        self, what: str, sdc: str, peer: str | None, target: float | None, *, absolute: float | None = None
    ) -> None:
        s = self.results[sdc]
        text = f"{s['median_ms']:.1f} ms ({s['min_ms']:.1f}-{s['max_ms']:.1f})"
        if peer is not None:
            p = self.results[peer]
            ratio = s["median_ms"] / p["median_ms"]
            versus = f"{peer}: {p['median_ms']:.1f} ms ({p['min_ms']:.1f}-{p['max_ms']:.1f})"
            verdict = f"{ratio:.2f}x"
            if target:
                verdict += f" (target <= {target}x: {'met' if ratio <= target else 'MISSED'})"
            self.results[sdc][f"ratio_to_{peer}"] = ratio
        else:
            versus = "-"
            verdict = ""
            if absolute:
                verdict = f"target <= {absolute:.0f} ms: {'met' if s['median_ms'] <= absolute else 'MISSED'}"
        self.rows.append((what, text, versus, verdict))

    # --- set-up -----------------------------------------------------------------------------
    def prepare(self) -> None:
        if self.deb:  # in the test host, whose / is a throw-away overlay
            sh("dpkg", "-i", str(self.deb))
        listing = sh("systemctl", "list-units", "--plain", "--no-legend", "sdc-*").stdout
        for name in [line.split()[0] for line in listing.splitlines()]:
            sh("systemctl", "stop", name, check=False)
        if ROOT.exists():
            sh(self.sdc, "rm", "-f", *sh(self.sdc, "ps", "-aq", check=False).stdout.split(), check=False)
            if subprocess.run(["mountpoint", "-q", str(ROOT / "storage")]).returncode == 0:
                sh("umount", str(ROOT / "storage"))
            shutil.rmtree(ROOT)
        if Path("/run/systemd/container").exists():
            # In the test host /var/lib is an overlayfs, which podman's overlay driver cannot stack on.
            Path("/var/lib/containers").mkdir(parents=True, exist_ok=True)
            sh("mount", "-t", "tmpfs", "tmpfs", "/var/lib/containers")
        shutil.rmtree(ROOTFS, ignore_errors=True)
        busybox = ROOTFS / "busybox"
        for d in ("bin", "etc", "usr"):  # nspawn refuses a tree without /usr
            (busybox / d).mkdir(parents=True)
        shutil.copy2("/bin/busybox", busybox / "bin" / "busybox")
        for applet in sh("/bin/busybox", "--list").stdout.split():
            if applet != "busybox":
                (busybox / "bin" / applet).symlink_to("busybox")
        (busybox / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
        with tarfile.open(ROOTFS / "busybox.tar", "w") as tar:
            tar.add(busybox, arcname=".")
        (ROOTFS / "minbase").mkdir()
        sh("tar", "-C", str(ROOTFS / "minbase"), "-xf", str(self.cache / "minbase.tar"))
        shutil.copy2(self.cache / "minbase.tar", ROOTFS / "minbase.tar")
        # For the storage layer only: minbase with five more copies of its /usr, ~800 MB in ~37,000 files.
        big = ROOTFS / "big"
        sh("cp", "-a", str(ROOTFS / "minbase"), str(big))
        for i in range(5):
            sh("cp", "-a", str(big / "usr"), str(big / f"usr-copy{i}"))
        sh("tar", "-C", str(big), "-cf", str(ROOTFS / "big.tar"), ".")
        sh(self.sdc, "import", str(ROOTFS / "big.tar"), "bench-big")
        for image in ("busybox", "minbase"):
            sh(self.sdc, "import", str(ROOTFS / f"{image}.tar"), f"bench-{image}")
            sh(*PODMAN, "rm", "-af", check=False)
            sh(*PODMAN, "rmi", "-f", f"bench-{image}", check=False)
            sh(*PODMAN, "import", str(ROOTFS / f"{image}.tar"), f"bench-{image}")

    # --- the measurements ----------------------------------------------------------------------
    def run_path(self) -> None:
        for image in ("busybox", "minbase"):
            rootfs = ROOTFS / image
            unshare = f"unshare --pid --fork --mount --uts --ipc --net chroot {rootfs} /bin/true"
            self.hyperfine(
                {
                    f"sdc-run-{image}": f"{self.sdc} run --rm --network none bench-{image} /bin/true",
                    f"podman-run-{image}": f"{' '.join(PODMAN)} run --rm --network none bench-{image} /bin/true",
                    f"nspawn-{image}": f"systemd-nspawn -q -D {rootfs} --register=no /bin/true",
                    f"floor-systemd-run-{image}": f"systemd-run --wait -q -p MemoryMax=64M {unshare}",
                    f"floor-unshare-{image}": unshare,
                }
            )
            self.row(f"run --rm /bin/true ({image})", f"sdc-run-{image}", f"podman-run-{image}", 0.5)
            self.row(f"run --rm /bin/true ({image})", f"sdc-run-{image}", f"nspawn-{image}", 1.0)
            self.row(f"run --rm /bin/true ({image})", f"sdc-run-{image}", f"floor-systemd-run-{image}", None)
        self.phases("busybox")

    def phases(self, image: str) -> None:
        """Where `run --rm`'s time goes: sdc and its launcher mark each phase ($SDC_PROFILE,
        sdcontainer/phases.py) in one timeline (CLOCK_MONOTONIC); a row per step, the median of
        the runs, from the moment the command is started to its end as the caller sees it."""
        steps: dict[str, list[float]] = {}
        for i in range(self.warmup + self.runs):
            with tempfile.NamedTemporaryFile(suffix=".profile") as marks:
                env = {**self.env, "SDC_PROFILE": marks.name}
                started = time.monotonic_ns()
                subprocess.run([self.sdc, "run", "--rm", "--network", "none", f"bench-{image}", "/bin/true"],
                               env=env, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
                ended = time.monotonic_ns()
                timeline = [(started, "started")] + sorted(
                    (int(t), phase.strip()) for t, _, phase in
                    (line.split(" ", 2) for line in Path(marks.name).read_text().splitlines())) + [(ended, "exited")]
            if i < self.warmup:
                continue
            for (t0, _), (t1, phase) in zip(timeline, timeline[1:], strict=False):
                steps.setdefault(phase, []).append((t1 - t0) / 1e6)
        for phase, samples in steps.items():
            name = f"run --rm phase: {phase}"
            self.results[name] = {"median_ms": statistics.median(samples), "min_ms": min(samples),
                                  "max_ms": max(samples)}  # fmt: skip
            self.row(f"  ... until {phase}", name, None, None)

    def network(self, n: int) -> None:
        """On the default networks: sdc's bridge against podman's (netavark both), a run --rm, n
        run -d 8 at a time, and 1 GiB through a published port against the host's loopback."""
        self.hyperfine(
            {
                "sdc-run-bridge": f"{self.sdc} run --rm --network bridge bench-busybox /bin/true",
                "podman-run-bridge": f"{' '.join(PODMAN)} run --rm bench-busybox /bin/true",
            },
            runs=max(5, self.runs // 2),
        )
        self.row("run --rm /bin/true, default network", "sdc-run-bridge", "podman-run-bridge", 0.6)
        names = "\n".join(f"net{i}" for i in range(n))
        xargs = ["xargs", "-P8", "-I{}"]
        for who, argv, remove in (
            ("sdc", [self.sdc, "run", "-d", "--network", "bridge"], [self.sdc, "rm", "-f"]),
            ("podman", [*PODMAN, "run", "-d"], [*PODMAN, "rm", "-f", "-t", "0"]),
        ):
            self.timed(f"{who}: {n} networked run -d", lambda argv=argv: subprocess.run(
                [*xargs, *argv, "--name", "{}", "bench-busybox", "sleep", "1000"], input=names, text=True,
                check=True, stdout=subprocess.DEVNULL))  # fmt: skip
            self.timed(f"{who}: rm -f {n} networked", lambda remove=remove: sh(*remove, *names.split()))
        self.row(f"{n} x networked run -d, 8 at a time", f"sdc: {n} networked run -d",
                 f"podman: {n} networked run -d", 0.5)  # fmt: skip
        self.row(f"rm -f of {n} networked", f"sdc: rm -f {n} networked", f"podman: rm -f {n} networked", 0.5)
        # 1 GiB into a published port: busybox nc in the container, Python's socket on the host
        for who, start, port in (
            ("sdc", [self.sdc, "run", "-d", "--name", "tput", "--network", "bridge", "-p", "18080:5000"], 18080),
            ("podman", [*PODMAN, "run", "-d", "--name", "tput", "-p", "18081:5000"], 18081),
            ("host loopback", None, 18082),
        ):
            if start is not None:
                sh(*start, "bench-busybox", "sh", "-c", "nc -l -p 5000 > /dev/null")
                server = None
            else:
                server = subprocess.Popen(["sh", "-c", f"busybox nc -l -p {port} > /dev/null"])
            self.timed(f"1 GiB through {who}", lambda port=port: send_gib(port))
            if server is not None:
                server.wait(timeout=30)
        sh(self.sdc, "rm", "-f", "tput", check=False)
        sh(*PODMAN, "rm", "-f", "-t", "0", "tput", check=False)
        self.row("1 GiB into a published port", "1 GiB through sdc", "1 GiB through podman", None)
        self.row("1 GiB into a published port", "1 GiB through sdc", "1 GiB through host loopback", None)

    def startup(self) -> None:
        # the file units run (launcher_entry.py), which imports the launcher from its bytecode
        where = "import os, sdcontainer.launcher as l; print(os.path.dirname(l.__file__) + '/' + l.ENTRY)"
        launcher = sh(self.python, "-c", where).stdout.strip()
        self.hyperfine(
            {
                "sdc --version": f"{self.sdc} --version",
                "podman --version": "podman --version",
                "sdc ps (empty)": f"{self.sdc} ps",
                "podman ps (empty)": f"{' '.join(PODMAN)} ps",
                "python -I -S (floor)": f"{self.python} -I -S -c pass",
            }
        )
        self.hyperfine({"launcher start-up": f"{self.python} -I -S {launcher}"}, ignore_failure=True)
        self.row("--version", "sdc --version", "podman --version", 0.5)
        self.row("ps, no containers", "sdc ps (empty)", "podman ps (empty)", 0.8)
        self.row("Python start (-I -S)", "python -I -S (floor)", None, None)
        self.row("launcher start-up (usage exit)", "launcher start-up", None, None)

    def storage_layer(self) -> None:
        code = (
            "import sys, time, statistics, secrets\n"
            "from sdcontainer.paths import Paths\nfrom sdcontainer.storage import open_driver\n"
            "from sdcontainer.images import find_image\n"
            "paths = Paths(__import__('pathlib').Path(sys.argv[1])); d = open_driver(paths)\n"
            "layer = find_image(paths, sys.argv[2]).top_layer; d.make_init_layer(layer); out = []; ids = []\n"
            "import os; os.sync()\n"
            "for _ in range(20):\n"
            "    cid = secrets.token_hex(8); t = time.perf_counter(); d.make_container_fs(cid, layer)\n"
            "    out.append((time.perf_counter() - t) * 1000); ids.append(cid)\n"
            "for cid in ids:  # removed after, untimed: a deletion's cleanup would slow the next commit\n"
            "    d.remove_container_fs(cid)\n"
            "print(statistics.median(out), min(out), max(out))\n"
        )
        for image in ("busybox", "minbase", "big"):
            median, low, high = map(float, sh(self.python, "-c", code, str(ROOT), f"bench-{image}").stdout.split())
            self.results[f"storage-{image}"] = {"median_ms": median, "min_ms": low, "max_ms": high}
            target = ROOT / "storage" / "bench-copy"
            src = ROOTFS / image

            def copy(src: Path = src, target: Path = target) -> None:
                sh("cp", "-a", "--reflink=auto", str(src), str(target))
                shutil.rmtree(target)

            self.timed(f"cp -a --reflink=auto ({image})", copy, repeat=1 if image == "big" else 5)
            self.row(f"container filesystem ({image})", f"storage-{image}", f"cp -a --reflink=auto ({image})", None)
        big_ratio = self.ms("storage-big") / self.ms("storage-minbase")
        self.rows.append(("storage big (5x minbase) / minbase", f"{big_ratio:.2f}x", "-", "size does not drive it"))
        ratio = self.ms("storage-minbase") / self.ms("storage-busybox")
        self.results["storage-size-independence"] = {"median_ms": ratio, "min_ms": ratio, "max_ms": ratio}
        met = ratio < 1.5 and max(self.ms("storage-busybox"), self.ms("storage-minbase")) <= 10
        self.rows.append(
            (
                "storage minbase / busybox",
                f"{ratio:.2f}x",
                "-",
                f"target < 1.5x and each <= 10 ms: {'met' if met else 'MISSED'}",
            )
        )

    def images(self) -> None:
        """Layer apply against GNU tar extracting the same tarball onto the same btrfs pool, and
        diff and commit of a one-file change in busybox and in Debian minbase (issue 7)."""
        scratch = ROOT / "storage" / "bench-apply"
        (scratch / "sdc").mkdir(parents=True, exist_ok=True)
        (scratch / "tar").mkdir(exist_ok=True)
        tarball = ROOTFS / "minbase.tar"
        try:
            self.hyperfine(
                {
                    # each run a store of its own on the pool: the layer is really applied and kept
                    "sdc import (minbase)": f"sh -c '{self.sdc} --root $(mktemp -d -p {scratch}/sdc) import "
                    f"{tarball} m'",
                    "tar -x (minbase)": f"sh -c 'tar -xf {tarball} -C $(mktemp -d -p {scratch}/tar)'",
                },
                runs=5,
            )
        finally:
            for store in (scratch / "sdc").iterdir():
                sh(self.sdc, "--root", str(store), "rmi", "m", check=False)
            shutil.rmtree(scratch, ignore_errors=True)
        self.row("layer apply, minbase (import vs tar -x)", "sdc import (minbase)", "tar -x (minbase)", 1.5)
        for image in ("busybox", "minbase"):
            name = f"changed-{image}"
            sh(self.sdc, "run", "-d", "--name", name, f"bench-{image}", "sh", "-c",
               "echo changed > /etc/one-file; exec sleep 1000")  # fmt: skip
            time.sleep(0.5)
            self.hyperfine({f"sdc diff ({image})": f"{self.sdc} diff {name}",
                            f"sdc commit ({image})": f"{self.sdc} commit {name} bench-{image}:committed"})  # fmt: skip
            sh(self.sdc, "rm", "-f", name)
            sh(self.sdc, "rmi", f"bench-{image}:committed", check=False)
            self.row(f"diff, one-file change ({image})", f"sdc diff ({image})", None, None, absolute=100)
            self.row(f"commit, one-file change ({image})", f"sdc commit ({image})", None, None, absolute=100)
        self.pull()
        self.build()

    def build(self) -> None:
        """sdc build against podman build on one two-stage Containerfile (a COPY of 200 files, RUNs,
        COPY --from), from the same local images, RUN with no network: cold (--no-cache: every
        step) and warm (all cached), issue 28's goal <= 0.7x both."""
        context = ROOTFS / "build-context"
        shutil.rmtree(context, ignore_errors=True)
        (context / "src").mkdir(parents=True)
        for i in range(200):
            (context / "src" / f"part{i:03}.txt").write_text(f"part {i}\n" * 50)
        (context / "Containerfile").write_text(
            "FROM bench-minbase AS build\nWORKDIR /src\nCOPY src/ ./\nRUN cat *.txt > /all && gzip -k /all\n"
            "FROM bench-busybox\nCOPY --from=build /all.gz /srv/\nRUN ls -l /srv > /srv/listing\n"
            'ENV MODE=bench\nCMD ["cat", "/srv/listing"]\n'
        )
        common = f"--network none -t bench-built {context}"
        podman = f"{' '.join(PODMAN)} build --pull=never --format docker {common}"
        sh(*f"{podman}".split())  # (each has built it once: the warm runs find their cache)
        sh(*f"{self.sdc} build {common}".split())
        self.hyperfine({"sdc build, cold": f"{self.sdc} build -q --no-cache {common}",
                        "podman build, cold": f"{podman} -q --no-cache",
                        "sdc build, warm": f"{self.sdc} build -q {common}",
                        "podman build, warm": f"{podman} -q"}, runs=5)  # fmt: skip
        self.row("build, cold (no cache)", "sdc build, cold", "podman build, cold", 0.7)
        self.row("build, warm (all cached)", "sdc build, warm", "podman build, warm", 0.7)
        sh(self.sdc, "rmi", "bench-built", check=False)
        sh(self.sdc, "builder", "prune", "-f", check=False)
        sh(*PODMAN, "rmi", "-f", "bench-built", check=False)
        shutil.rmtree(context, ignore_errors=True)

    def pull(self) -> None:
        """Pull and unpack from a registry on 127.0.0.1, against skopeo copy + umoci unpack of the
        same image, both into the same btrfs pool: a two-layer minbase (~60 MB gzip'd), and the
        issue's image of many small files: busybox with the host's Python standard library and
        its locales over it, three layers (~216 MB, ~5,700 files on Debian 12)."""
        import socket

        work = ROOT / "storage" / "bench-pull"
        work.mkdir(exist_ok=True)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        config = {"version": 0.1, "log": {"level": "error"}, "http": {"addr": f"127.0.0.1:{port}"},
                  "storage": {"filesystem": {"rootdirectory": str(work / "registry")}}}  # fmt: skip
        (work / "config.yml").write_text(json.dumps(config))  # JSON is YAML; never the package's all-interfaces one
        registry = subprocess.Popen(["docker-registry", "serve", str(work / "config.yml")],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        stores = work / "stores"
        stores.mkdir()
        python = f"/usr/lib/python3.{sys.version_info.minor}"
        layers = {  # image: (its base, the commands each adding one layer)
            "minbase": ("bench-minbase", [("cp -a /usr/share /opt/share", [])]),
            "small-files": ("bench-busybox", [
                (f"mkdir -p /usr/lib && cp -a /src {python}", ["-v", f"{python}:/src:ro"]),
                ("mkdir -p /usr/share && cp -a /src /usr/share/locale", ["-v", "/usr/share/locale:/src:ro"]),
            ]),
        }  # fmt: skip
        refs = []
        try:
            time.sleep(1)
            for image, (base, steps) in layers.items():
                ref = f"127.0.0.1:{port}/bench/{image}:2"
                refs.append(ref)
                for i, (command, flags) in enumerate(steps):
                    sh(self.sdc, "run", "--name", "layer", "--network", "none", *flags, base, "sh", "-c", command)
                    base = f"bench-{image}:layer{i + 2}"
                    sh(self.sdc, "commit", "layer", base)
                    sh(self.sdc, "rm", "layer")
                sh(self.sdc, "push", "-q", base, ref)
                label = f"{image}, {len(steps) + 1} layers"
                if image == "small-files":
                    size = sum(int(sh("du", "-sb", d).stdout.split()[0]) for d in (python, "/usr/share/locale"))
                    files = sum(len(sh("find", d).stdout.splitlines()) for d in (python, "/usr/share/locale"))
                    label += f", {size / 1e6:.0f} MB in {files:,} files"
                unpack = (f"sh -c 'd=$(mktemp -d -p {stores}) && skopeo copy -q --src-tls-verify=false "
                          f"docker://{ref} oci:$d/layout:x && umoci unpack --image $d/layout:x $d/u'")  # fmt: skip
                self.hyperfine(
                    {
                        f"sdc pull ({image})": f"sh -c '{self.sdc} --root $(mktemp -d -p {stores}) pull -q {ref}'",
                        f"skopeo copy + umoci unpack ({image})": unpack,
                    },
                    runs=3,
                )
                self.row(f"pull + unpack ({label})", f"sdc pull ({image})", f"skopeo copy + umoci unpack ({image})",
                         0.7)  # fmt: skip
                for store in stores.iterdir():
                    sh(self.sdc, "--root", str(store), "rmi", "-f", ref, check=False)
                    shutil.rmtree(store, ignore_errors=True)
        finally:
            registry.terminate()
            registry.wait()
            for store in stores.iterdir():
                for ref in refs:
                    sh(self.sdc, "--root", str(store), "rmi", "-f", ref, check=False)
            for image, (_, steps) in layers.items():
                for i in range(len(steps)):
                    sh(self.sdc, "rmi", f"bench-{image}:layer{i + 2}", check=False)
            shutil.rmtree(work, ignore_errors=True)

    def density(self, n: int) -> None:
        names = [f"dens{i}" for i in range(n)]
        xargs = ["xargs", "-P8", "-I{}"]
        start_sdc = " ".join(names)
        self.timed(
            f"sdc: {n} run -d",
            lambda: subprocess.run(
                [*xargs, self.sdc, "run", "-d", "--network", "none", "--name", "{}", "bench-busybox", "sleep", "1000"],
                input=start_sdc.replace(" ", "\n"),
                text=True,
                check=True,
                stdout=subprocess.DEVNULL,
            ),
        )
        # Resident means staying: the last launchers may still be exiting as the last `sdc run -d`
        # returns (they exit just after systemd has read their READY=1), so look for up to 2 s.
        settle = time.monotonic()
        while True:
            resident = sh(
                "sh",
                "-c",
                "grep -l machine-sdc.slice /proc/[0-9]*/cgroup 2>/dev/null | "
                "sed 's#/cgroup$#/comm#' | xargs cat 2>/dev/null | sort | uniq -c",
            ).stdout
            if not any(w in resident for w in ("python", "sdc")) or time.monotonic() - settle > 2:
                break
            time.sleep(0.05)
        self.results["density-settle"] = {"median_ms": (time.monotonic() - settle) * 1000}
        # ps with containers asks systemd for their units (with none it asks nothing): the bus
        # adapters side by side, sdc's own (the default) and the two libraries' (issue 26)
        self.hyperfine({f"sdc ps ({n} running)": f"{self.sdc} ps",
                        f"sdc ps ({n} running), SDC_BUS=pystemd": f"env SDC_BUS=pystemd {self.sdc} ps",
                        f"sdc ps ({n} running), SDC_BUS=dbus-next": f"env SDC_BUS=dbus-next {self.sdc} ps"})
        mem_sdc = sum(
            int(sh("systemctl", "show", "-p", "MemoryCurrent", "--value", f"sdc-{c}.service").stdout or 0)
            for c in names
        )
        breakdown = memory_breakdown([f"sdc-{c}.service" for c in names])
        payload = f"unshare --pid --fork --mount --uts --ipc --net chroot {ROOTFS / 'busybox'} sleep 1000"
        for i in range(n):
            sh(
                "systemd-run",
                "-q",
                f"--unit=bench-pay{i}",
                "--slice=bench.slice",
                "-p",
                "MemoryAccounting=yes",
                *payload.split(),
            )
        time.sleep(1)
        mem_floor = sum(
            int(sh("systemctl", "show", "-p", "MemoryCurrent", "--value", f"bench-pay{i}.service").stdout or 0)
            for i in range(n)
        )
        floor_breakdown = memory_breakdown([f"bench-pay{i}.service" for i in range(n)])
        sh("systemctl", "stop", "bench.slice", check=False)
        mem_overlay = self.overlay_memory(n)
        self.timed(f"sdc: rm -f {n}", lambda: sh(self.sdc, "rm", "-f", *names))
        self.timed(
            f"podman: {n} run -d",
            lambda: subprocess.run(
                [*xargs, *PODMAN, "run", "-d", "--network", "none", "--name", "{}", "bench-busybox", "sleep", "1000"],
                input=start_sdc.replace(" ", "\n"),
                text=True,
                check=True,
                stdout=subprocess.DEVNULL,
            ),
        )
        self.hyperfine({f"podman ps ({n} running)": f"{' '.join(PODMAN)} ps"})
        self.timed(f"podman: rm -f {n}", lambda: sh(*PODMAN, "rm", "-f", "-t", "0", *names))
        self.row(f"{n} x run -d, 8 at a time", f"sdc: {n} run -d", f"podman: {n} run -d", 0.5)
        self.row(f"rm -f of {n} running", f"sdc: rm -f {n}", f"podman: rm -f {n}", 0.25)
        self.row(f"ps with {n} running", f"sdc ps ({n} running)", f"podman ps ({n} running)", 0.8)
        for adapter in ("pystemd", "dbus-next"):
            self.row(f"ps with {n} running, the default bus adapter vs {adapter}'s", f"sdc ps ({n} running)",
                     f"sdc ps ({n} running), SDC_BUS={adapter}", 1.0)  # fmt: skip
        ratio = mem_sdc / mem_floor if mem_floor else float("nan")
        self.results["density-memory"] = {
            "sdc_bytes": mem_sdc,
            "systemd_run_bytes": mem_floor,
            "ratio": ratio,
            "sdc_stat": breakdown,
            "systemd_run_stat": floor_breakdown,
        }
        self.results["density-resident"] = {"processes": resident}  # type: ignore[dict-item]
        python_resident = any(w in resident for w in ("python", "sdc"))
        self.rows.append(
            (
                f"memory of {n} containers",
                f"{mem_sdc / 2**20:.1f} MiB",
                f"systemd-run payloads: {mem_floor / 2**20:.1f} MiB",
                f"{ratio:.2f}x (target within 10 %: {'met' if abs(ratio - 1) <= 0.10 else 'MISSED'})",
            )
        )
        overlay_ratio = mem_overlay / mem_floor if mem_floor else float("nan")
        self.results["density-memory-overlay"] = {"overlay_bytes": mem_overlay, "ratio": overlay_ratio}
        self.rows.append(
            (
                "  the same containers on the overlay driver",
                f"{mem_overlay / 2**20:.1f} MiB",
                f"systemd-run payloads: {mem_floor / 2**20:.1f} MiB",
                f"{overlay_ratio:.2f}x (target <= 1.15x: {'met' if overlay_ratio <= 1.15 else 'MISSED'})",
            )
        )
        self.rows.append(
            (
                "resident processes in machine-sdc.slice",
                " ".join(resident.split()),
                "-",
                f"no sdc/python ({self.ms('density-settle'):.0f} ms after the last run -d returned): "
                + ("MISSED" if python_resident else "met"),
            )
        )

    def overlay_memory(self, n: int) -> int:
        """The same containers on sdc's overlay driver (a store of its own on the btrfs pool): their
        lower files are the image's own inodes, so they share one page cache of them."""
        root = ROOT / "storage" / "bench-overlay"
        overlay = [self.sdc, "--root", str(root), "--storage-driver", "overlay"]
        names = [f"ovl{i}" for i in range(n)]
        try:
            sh(*overlay, "import", str(ROOTFS / "busybox.tar"), "bench-busybox")
            for name in names:
                sh(*overlay, "run", "-d", "--network", "none", "--name", name, "bench-busybox", "sleep", "1000")
            time.sleep(1)
            return sum(
                int(sh("systemctl", "show", "-p", "MemoryCurrent", "--value", f"sdc-{name}.service").stdout or 0)
                for name in names
            )
        finally:
            sh(*overlay, "rm", "-f", *names, check=False)
            shutil.rmtree(root, ignore_errors=True)

    def stop(self) -> None:
        for timeout, label in ((None, "sdc stop (sleep as PID 1)"), ("0", "sdc stop -t 0")):
            sh(self.sdc, "run", "-d", "--network", "none", "--name", "stopper", "bench-busybox", "sleep", "1000")
            args = ["stop", "stopper"] if timeout is None else ["stop", "-t", timeout, "stopper"]
            self.timed(label, lambda args=args: sh(self.sdc, *args))
            sh(self.sdc, "rm", "-f", "stopper")
        self.row("stop, PID 1 ignores SIGTERM", "sdc stop (sleep as PID 1)", None, None, absolute=11000)
        self.row("stop -t 0", "sdc stop -t 0", None, None, absolute=1000)

    def report(self, out: Path) -> None:
        machine = (
            f"{platform.node()}: {os.cpu_count()} CPUs, {platform.machine()}, Linux {platform.release()};"
            f" {self.sdc} on Python {platform.python_version()}"
        )
        widths = [max(len(r[i]) for r in self.rows) for i in range(4)]
        lines = [f"sdc benchmark, {time.strftime('%Y-%m-%d %H:%M')} on {machine}", ""]
        header = ("measure", "sdc: median (min-max)", "peer, same run", "ratio / verdict")
        for r in [header, tuple("-" * w for w in widths), *self.rows]:
            lines.append(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        print("\n".join(lines))
        previous = sorted(p for p in out.parent.glob("bench-*.json") if p != out)
        changes: list[str] = []
        if previous:
            last = json.loads(previous[-1].read_text())
            if bool(last.get("quick")) == self.quick:  # (a --quick run's few samples judge nothing of a full one's)
                changes = moved(last.get("results", {}), self.results)
                print(f"\nMoved beyond noise since {previous[-1].name}:" if changes else
                      f"\nNothing moved beyond noise since {previous[-1].name}.")  # fmt: skip
                print("".join(f"  {line}\n" for line in changes), end="")
        out.write_text(json.dumps({"machine": machine, "quick": self.quick, "results": self.results,
                                   "table": self.rows, "moved": changes}, indent=2))  # fmt: skip
        print(f"\nJSON: {out}")


NOISE = 0.10  # a change of less than this is noise, whatever the spread says


def moved(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]) -> list[str]:
    """The measures that moved beyond noise from before to after (bench results, by name): those
    with a peer by their ratio to it (the peer ran in the same conditions, so the machine's own
    drift cancels out), the others by their median; beyond noise is more than NOISE apart and,
    where a measure has several samples, outside the other run's min-max."""
    found = []
    for name, now in after.items():
        then = before.get(name)
        if then is None or "median_ms" not in then or "median_ms" not in now:
            continue  # (a measure of another kind: a count, a memory figure)
        ratios = [k for k in now if k.startswith("ratio_to_") and k in then]
        pairs = [(f"ratio to {k.removeprefix('ratio_to_')}", then[k], now[k], None) for k in ratios] or [
            ("median", then["median_ms"], now["median_ms"], (then.get("min_ms", 0.0), then.get("max_ms", 0.0)))]
        for what, old, new, spread in pairs:
            if old <= 0 or abs(new - old) / old <= NOISE:
                continue
            if spread is not None and spread[0] < spread[1] and spread[0] <= new <= spread[1]:
                continue
            unit = "x" if what.startswith("ratio") else " ms"
            found.append(f"{name}, {what}: {old:.2f}{unit} -> {new:.2f}{unit} "
                         f"({'slower' if new > old else 'faster'} by {abs(new - old) / old:.0%})")  # fmt: skip
    return found


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--quick", action="store_true", help="fewer runs, for a smoke test")
    parser.add_argument("--deb", type=Path, help="install this sdc package and measure it (test host only)")
    args = parser.parse_args()
    if args.deb and not Path("/run/systemd/container").exists():
        parser.error("--deb installs a package: only inside the test host")
    bench = Bench(args.cache, runs=5 if args.quick else 20, warmup=1 if args.quick else 3, deb=args.deb,
                  quick=args.quick)
    bench.prepare()
    bench.run_path()
    bench.startup()
    bench.storage_layer()
    bench.images()
    bench.density(10 if args.quick else 50)
    bench.network(10 if args.quick else 50)
    bench.stop()
    bench.report(args.cache / "results" / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
