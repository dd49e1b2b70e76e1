"""`sdc build` against `podman build` (Debian 12's podman 4.3.1, Buildah 1.28 under it), on
the same Containerfile and context, from the same local base image: the images' root filesystems
identical file by file (types, modes with setuid, owners, contents, symlinks' targets, hard links,
xattrs) and their configs equal; every instruction sdc takes, multi-stage with --target and COPY
--from, ARG scoping, .dockerignore, an ONBUILD trigger and heredocs. And the time: a cold and a
warm build, sdc's at most 0.7x podman's.

Where the two may differ, by design, and only there:
- Buildah's RUN leaves its mount points in the layer it commits, empty: /dev, /proc, /run, /sys
  and /etc/hostname, and the directories it made above RUN --mount's targets (here /mnt, /var,
  /var/cache). BuildKit leaves none, nor does sdc.
- A WORKDIR no later step uses: BuildKit makes its directory at once, as sdc does; Buildah 1.28
  only when a later step needs it.
- Podman 4.3.1 reads no heredocs (Buildah has them since 1.33) nor RUN --network: its
  Containerfile has those steps written as the plain steps they stand for.
- Buildah 1.28 takes a backslash in ENV as an escape even under the escape directive's backtick,
  where BuildKit and sdc keep it as it is (tests/unit/test_build_state.py): the file of that
  directive here has none.
- Podman's config has fields it sets empty, the build container's Hostname and its own
  io.buildah.version label.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc, serve_directory

CONTAINERFILE = """\
ARG BASE=bb
ARG UNUSED=x
FROM $BASE AS base
ARG GREETING=hello
ENV PATH=/usr/local/bin:/bin APP_HOME=/srv/app \\
    MODE="two words"
LABEL org.example.team=builders version="1 0"
MAINTAINER builders@example.org
SHELL ["/bin/sh", "-c"]
WORKDIR $APP_HOME
COPY src/ ./src/
COPY *.txt ./
COPY --chmod=0755 tool.sh /usr/local/bin/tool
COPY --chown=65534:65534 data /data
COPY caps /usr/local/bin/
COPY --chown=65534:65534 notes.txt /deep/er/notes.txt
COPY --chown=65534:65534 data /deep2/data/
COPY --chown=65534:65534 src/sub /deep3/sub
ADD files.tar /opt/
ADD notes.txt /opt/notes/
ADD files.tar.gz /opt/gz/
RUN mkdir -p /out && tool > /out/tool && echo "$GREETING $MODE $UNUSED" > /out/greeting
RUN --network=none ["/bin/sh", "-c", "ln -s /out/greeting /out/link && ln /out/tool /out/hard && chmod 4755 /out/hard"]
RUN <<EOF
echo heredoc > /out/heredoc
rm /usr/local/bin/tool
EOF
COPY <<EOF /etc/motd
hello $GREETING
EOF
USER nobody
WORKDIR /wd/nobody
RUN true
WORKDIR /srv/app
ONBUILD USER root
ONBUILD RUN echo triggered > /triggered
VOLUME /data
EXPOSE 8080 53/udp
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=30s --retries=2 CMD cat /out/greeting
ENTRYPOINT ["cat"]
CMD ["/out/greeting"]

FROM base AS child
USER root
RUN echo child > /child

FROM bb AS runtime
ARG UNUSED
ARG BASE
COPY --from=base /out /app
COPY --from=child /triggered /child /app/
RUN echo "$BASE $UNUSED" > /app/args
RUN --mount=type=bind,source=src,target=/mnt/src cat /mnt/src/a.txt > /app/bound
RUN --mount=type=bind,from=base,source=/out,target=/mnt/out cat /mnt/out/greeting > /app/bound-stage
RUN --mount=type=cache,target=/var/cache/cmp,id=cmp echo cached > /var/cache/cmp/x && ls /var/cache/cmp > /app/cached
ARG WEB
ADD ${WEB}/fetched.txt /app/fetched/
WORKDIR /app/work
RUN pwd > /app/pwd
WORKDIR /app/work2

FROM scratch AS bare
COPY --from=bb /bin/busybox /bin/
COPY --from=child --chown=1:1 /child /out/greeting /
COPY notes.txt /
CMD ["/bin/busybox", "cat", "/notes.txt"]
"""

PODMAN_ONLY = {"dev", "proc", "run", "sys", "etc/hostname",  # Buildah's RUN mount points, left behind empty,
               "mnt", "var", "var/cache"}  # and the directories it makes above RUN --mount's targets (mode 1755)
SDC_ONLY = {"app/work2"}  # a last WORKDIR: made at once by BuildKit and sdc, never by Buildah 1.28
PLAIN = {  # Podman 4.3.1's Containerfile: the same steps without heredocs and RUN --network
    "RUN <<EOF\necho heredoc > /out/heredoc\nrm /usr/local/bin/tool\nEOF\n":
        "RUN echo heredoc > /out/heredoc && rm /usr/local/bin/tool\n",
    "COPY <<EOF /etc/motd\nhello $GREETING\nEOF\n": "RUN echo hello $GREETING > /etc/motd\n",
    "RUN --network=none [": "RUN [",
}
ESCAPED = """\
# escape=`
FROM bb
ENV DIR=/data `
    MORE="x y"
RUN mkdir -p /e && echo "$DIR $MORE" > /e/dir && `
    echo two > /e/two
COPY ["one.txt", "/e/one"]
"""
TARGETS = ("base", "child", "runtime", "bare")
CASES = {target: ("--target", target) for target in TARGETS} | {
    "runtime-squashed": ("--target", "runtime", "--squash"),
    "child-squashed-all": ("--target", "child", "--squash-all"),
    "runtime-no-layers": ("--target", "runtime", "--layers=false"),
    "escaped": ("--file", "Escapefile")}  # fmt: skip
CAPABILITY = bytes.fromhex("0100000200040000000000000000000000000000")  # cap_net_bind_service, permitted


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("compare") / "ctx"
    for d in ("src/sub", "data", "archive/d"):
        (root / d).mkdir(parents=True)
    files = {"src/a.txt": "A\n", "src/sub/b": "B\n", "src/secret.txt": "S\n", "one.txt": "1\n", "two.txt": "2\n",
             "tool.sh": "#!/bin/sh\necho tool\n", "data/d": "d\n", "caps": "capped\n", "notes.txt": "notes\n",
             "archive/d/f": "in tar\n", ".dockerignore": "src/secret.txt\n"}  # fmt: skip
    for name, text in files.items():
        (root / name).write_text(text)
    os.chmod(root / "data" / "d", 0o640)
    os.chmod(root / "caps", 0o755)
    os.setxattr(root / "caps", "user.note", b"kept")
    os.setxattr(root / "caps", "security.capability", CAPABILITY)
    os.symlink("f", root / "archive" / "d" / "l")
    subprocess.run(["tar", "-C", str(root / "archive"), "-cf", str(root / "files.tar"), "d"], check=True)
    subprocess.run(["tar", "-C", str(root / "archive"), "-czf", str(root / "files.tar.gz"), "d"], check=True)
    (root / "Containerfile").write_text(CONTAINERFILE)
    podmanfile = CONTAINERFILE
    for heredoc, plain in PLAIN.items():
        assert heredoc in podmanfile
        podmanfile = podmanfile.replace(heredoc, plain)
    (root / "Podmanfile").write_text(podmanfile)
    (root / "Escapefile").write_text(ESCAPED)
    return root


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An HTTP server on the test host's loopback, for ADD of a URL: its base URL."""
    served = tmp_path_factory.mktemp("served")
    (served / "fetched.txt").write_text("fetched over HTTP\n")
    with serve_directory(served) as url:
        yield url


class Podman:
    """podman on a store of its own (overlay, on the test host's tmpfs), with sdc's base image."""

    def __init__(self, root: Path) -> None:
        self.argv = ["podman", "--root", str(root / "root"), "--runroot", str(root / "run"),
                     "--storage-driver", "overlay", "--events-backend", "none"]  # fmt: skip

    def ok(self, *args: str, timeout: float = 600) -> str:
        proc = subprocess.run([*self.argv, *args], capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == 0, f"podman {' '.join(args)} failed: {proc.stderr[-2000:]}"
        return proc.stdout

    def build(self, context: Path, *args: str) -> None:
        """podman build of the context's Podmanfile (another with --file NAME)."""
        args = tuple(str(context / a) if i and args[i - 1] == "--file" else a for i, a in enumerate(args))
        file = () if "--file" in args else ("-f", str(context / "Podmanfile"))
        self.ok("build", "--format", "docker", "--network", "none", "--pull=never", *file, *args, str(context))


@pytest.fixture(scope="module")
def podman(tmp_path_factory: pytest.TempPathFactory, busybox_tar: Path) -> Iterator[Podman]:
    root = tmp_path_factory.mktemp("podman")
    podman = Podman(root)
    podman.ok("import", str(busybox_tar), "localhost/bb:latest")
    yield podman
    subprocess.run([*podman.argv, "system", "reset", "--force"], capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def podman_images(podman: Podman, context: Path, web: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each case built once by podman (the suite's drivers each compare sdc's with it), saved."""
    out = tmp_path_factory.mktemp("podman-images")
    saved = {}
    for case, flags in CASES.items():
        podman.build(context, *flags, "--build-arg", f"WEB={web}", "-t", f"localhost/cmp-{case}")
        saved[case] = out / f"{case}.tar"
        podman.ok("save", "--format", "docker-archive", "-o", str(saved[case]), f"localhost/cmp-{case}")
    return saved


Entry = tuple[object, ...]


def root_filesystem(archive: Path) -> dict[str, Entry]:
    """A docker-archive's image as the files its layers make, whiteouts applied: per path its type,
    permission bits, owner, size, content digest, link target, xattrs and its hard links."""
    files: dict[str, Entry] = {}
    links: dict[str, set[str]] = {}
    with tarfile.open(archive) as outer:
        [manifest] = json.load(outer.extractfile("manifest.json"))  # type: ignore[arg-type]
        for layer in manifest["Layers"]:
            with tarfile.open(fileobj=outer.extractfile(layer)) as tar:
                for member in tar:
                    name = member.name.removeprefix("./").rstrip("/") or "."
                    parent, _, base = name.rpartition("/")
                    if base.startswith(".wh."):
                        gone = parent if base == ".wh..wh..opq" else f"{parent}/{base[4:]}".lstrip("/")
                        for path in [p for p in files if p.startswith(gone + "/") or (p == gone != parent)]:
                            del files[path]
                        continue
                    if member.islnk():
                        first = member.linkname.removeprefix("./")
                        group = links.setdefault(first, {first})
                        group.add(name)
                        links[name] = group
                        files[name] = files[first]
                        continue
                    data = tar.extractfile(member).read() if member.isreg() else b""  # type: ignore[union-attr]
                    xattrs = sorted((k, v) for k, v in member.pax_headers.items() if k.startswith("SCHILY.xattr."))
                    files[name] = (member.type, oct(member.mode & 0o7777), member.uid, member.gid, len(data),
                                   hashlib.sha256(data).hexdigest(), member.linkname, tuple(xattrs))  # fmt: skip
    return {path: (*entry, tuple(sorted(links.get(path, ())))) for path, entry in files.items()}


def image_config(archive: Path) -> dict[str, object]:
    """The config's runtime fields that are set (podman writes the others empty), less podman's own."""
    with tarfile.open(archive) as outer:
        [manifest] = json.load(outer.extractfile("manifest.json"))  # type: ignore[arg-type]
        config = json.load(outer.extractfile(manifest["Config"]))  # type: ignore[arg-type]
    runtime = {k: v for k, v in config["config"].items() if v not in (None, "", [], {}, False)}
    runtime.pop("Hostname", None)
    labels = {k: v for k, v in (runtime.pop("Labels", None) or {}).items() if k != "io.buildah.version"}
    return {**runtime, "Labels": labels, "architecture": config["architecture"], "os": config["os"]}


def _differences(ours: dict[str, Entry], theirs: dict[str, Entry]) -> list[str]:
    said = []
    for path in sorted(set(ours) | set(theirs)):
        if ours.get(path) != theirs.get(path):
            said.append(f"{path}: sdc {ours.get(path)} podman {theirs.get(path)}")
    return said


def _layers(archive: Path) -> int:
    with tarfile.open(archive) as outer:
        [manifest] = json.load(outer.extractfile("manifest.json"))  # type: ignore[arg-type]
    return len(manifest["Layers"])


@pytest.mark.parametrize("case", CASES)
def test_the_same_image_as_podman_build(sdc: Sdc, image: str, context: Path, podman_images: dict[str, Path],
                                        web: str, case: str, tmp_path: Path) -> None:  # fmt: skip
    flags = [str(context / f) if i and CASES[case][i - 1] == "--file" else f for i, f in enumerate(CASES[case])]
    tag = f"localhost/cmp-{case}"
    sdc.ok("build", "--network", "none", *flags, "--build-arg", f"WEB={web}", "-t", tag, str(context), timeout=300)
    try:
        sdc.ok("save", "--format", "docker-archive", "-o", str(tmp_path / "sdc.tar"), tag)
    finally:
        sdc.ok("rmi", tag)
    if "--target" not in flags or len(flags) > 2:  # (--squash, --squash-all, --layers=false: as many layers)
        assert _layers(tmp_path / "sdc.tar") == _layers(podman_images[case])
    ours, theirs = root_filesystem(tmp_path / "sdc.tar"), root_filesystem(podman_images[case])
    for path in PODMAN_ONLY & set(theirs) - set(ours):  # (empty, or not Buildah's mount points)
        assert theirs.pop(path)[4] == 0, path
    for path in SDC_ONLY & set(ours) - set(theirs):
        assert ours.pop(path)[0] == tarfile.DIRTYPE, path
    assert _differences(ours, theirs) == [], "\n".join(_differences(ours, theirs))
    assert len(ours) > (3 if case == "bare" else 250)  # (busybox's applets: the files compared)
    assert image_config(tmp_path / "sdc.tar") == image_config(podman_images[case])
    if case == "base":
        caps = ours["usr/local/bin/caps"][7]
        assert ("SCHILY.xattr.user.note", "kept") in caps and len(caps) == 2  # type: ignore[operator,arg-type]
        assert ours["out/hard"][8] == ("out/hard", "out/tool") and ours["out/hard"][1] == "0o4755"
        assert ours["data"][2:4] == (65534, 65534) and ours["wd/nobody"][2:4] == (65534, 65534)


def _timed(build: Callable[[], object]) -> float:
    start = time.monotonic()
    build()
    return time.monotonic() - start


def test_cold_and_warm_builds_take_at_most_0_7_of_podman_build(sdc: Sdc, image: str, context: Path,
                                                                podman: Podman, web: str) -> None:  # fmt: skip
    """A cold build (no cache: every step run) and a warm one (all cached) of the runtime target."""
    def ours(*args: str) -> Callable[[], str]:
        return lambda: sdc.ok("build", "-q", "--network", "none", "--target", "runtime", "--build-arg", f"WEB={web}",
                              *args, str(context), timeout=300)  # fmt: skip

    def theirs(*args: str) -> Callable[[], None]:
        return lambda: podman.build(context, "-q", "--target", "runtime", "--build-arg", f"WEB={web}", *args)

    try:
        times = {"sdc cold": _timed(ours("--no-cache", "-t", "localhost/timed")), "sdc warm": _timed(ours()),
                 "podman cold": _timed(theirs("--no-cache", "-t", "localhost/timed")),
                 "podman warm": _timed(theirs())}  # fmt: skip
    finally:
        sdc("rmi", "localhost/timed")
    said = ", ".join(f"{k} {v:.2f} s" for k, v in times.items())
    assert times["sdc cold"] <= 0.7 * times["podman cold"], said
    assert times["sdc warm"] <= 0.7 * times["podman warm"], said
