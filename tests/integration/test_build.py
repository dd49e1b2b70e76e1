"""`sdc build` on the real systemd of the test host: a Containerfile's steps as layers, the
config its instructions make, multi-stage with --target and COPY --from, .dockerignore, the
cache (an unchanged rebuild runs no RUN; a changed file reruns from the step that reads it),
and failures that leave nothing behind."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc, serve_directory

CONTAINERFILE = """\
# syntax=docker/dockerfile:1
ARG BASE=bb
FROM $BASE AS build
ARG GREETING=hello
ENV OUT=/out \\
    MODE=build
WORKDIR /src
COPY src/ ./
COPY --chmod=0700 tool.sh /usr/local/bin/
RUN mkdir -p $OUT && cat *.txt > $OUT/all.txt && echo "$GREETING from $MODE" > $OUT/greeting \\
    && sh /usr/local/bin/tool.sh >> $OUT/greeting

FROM build AS test
RUN grep -q "hello from build" /out/greeting && echo tested > /tested

FROM bb AS runtime
LABEL org.example.team=builders version="1 0"
COPY --from=build --chown=65534:65534 /out /app
COPY README* /docs/
COPY README.md /etc
COPY lib.link /opt/lib
USER nobody
EXPOSE 8080 53/udp
ENV APP=/app
WORKDIR /app
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=30s --retries=2 CMD cat /app/greeting
ENTRYPOINT ["cat"]
CMD ["/app/greeting"]

"""


@pytest.fixture
def context(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    (root / "src").mkdir(parents=True)
    (root / "src" / "a.txt").write_text("A\n")
    (root / "src" / "b.txt").write_text("B\n")
    (root / "src" / "secret.txt").write_text("never\n")
    (root / "tool.sh").write_text("echo tool ran\n")
    (root / "README.md").write_text("read me\n")
    os.symlink("src", root / "lib.link")  # (a symlink source: followed, inside the context)
    (root / ".dockerignore").write_text("src/secret.txt\n")
    (root / "Containerfile").write_text(CONTAINERFILE)
    (tmp_path / "outside").write_text("outside\n")
    return root


def _layer_names(sdc: Sdc, ref: str, work: Path) -> set[str]:
    """The names of the files the image's layers hold (./ taken off)."""
    sdc.ok("save", "--format", "docker-archive", "-o", str(work / "saved.tar"), ref)
    names = set()
    with tarfile.open(work / "saved.tar") as outer:
        [manifest] = json.load(outer.extractfile("manifest.json"))  # type: ignore[arg-type]
        for layer in manifest["Layers"]:
            with tarfile.open(fileobj=outer.extractfile(layer)) as tar:
                names |= {m.name.removeprefix("./") for m in tar}
    return names


def _inspect(sdc: Sdc, ref: str) -> dict:  # type: ignore[type-arg]
    [info] = json.loads(sdc.ok("image", "inspect", ref))
    return info  # type: ignore[no-any-return]


def test_a_multi_stage_build_its_config_and_its_cache(sdc: Sdc, image: str, name: str, context: Path) -> None:
    assert image == "bb"
    tag = f"localhost/{name}:1"
    try:
        out = sdc.ok("build", "-t", tag, "--build-arg", "GREETING=hello", str(context), timeout=300)
        assert "CACHED" not in out and "[runtime 2/" in out, out
        assert sdc.ok("run", "--rm", tag) == "hello from build\ntool ran\n"
        assert sdc.ok("run", "--rm", "--entrypoint", "", tag, "cat", "/app/all.txt", "/docs/README.md") == \
            "A\nB\nread me\n"  # fmt: skip
        assert sdc.ok("run", "--rm", "--entrypoint", "", tag, "cat", "/etc/README.md", "/opt/lib/a.txt") == \
            "read me\nA\n"  # (into the image's /etc, which stays: its passwd too)  # fmt: skip
        sdc.ok("run", "--rm", "--entrypoint", "", tag, "test", "-f", "/etc/passwd")
        listing = sdc.ok("run", "--rm", "--entrypoint", "", tag, "ls", "-ln", "/app")
        assert " 65534 " in listing
        first = _inspect(sdc, tag)["Id"]
        config = _inspect(sdc, tag)["Config"]
        assert config["User"] == "nobody" and config["WorkingDir"] == "/app" and config["StopSignal"] == "SIGQUIT"
        assert config["Entrypoint"] == ["cat"] and config["Cmd"] == ["/app/greeting"]
        assert config["Labels"] == {"org.example.team": "builders", "version": "1 0"}
        assert set(config["ExposedPorts"]) == {"8080/tcp", "53/udp"} and "APP=/app" in config["Env"]
        assert config["Healthcheck"]["Test"] == ["CMD-SHELL", "cat /app/greeting"]
        assert "GREETING" not in json.dumps(config)  # (an ARG: RUN's, not the image's)

        again = sdc.ok("build", "-t", tag, "--build-arg", "GREETING=hello", str(context), timeout=300)
        assert again.count("CACHED") >= 4 and "RUN mkdir" in again, again
        assert all("CACHED" in line for line in again.splitlines() if " RUN " in line), again
        assert _inspect(sdc, tag)["Id"] == first  # (the same image: its config's steps cached too)

        (context / "src" / "b.txt").write_text("B2\n")  # read by the first COPY: from there on again
        changed = sdc.ok("build", "-q", "-t", tag, str(context), timeout=300).strip()
        assert changed.startswith("sha256:") and _inspect(sdc, tag)["Id"] == changed
        assert sdc.ok("run", "--rm", "--entrypoint", "", tag, "cat", "/app/all.txt") == "A\nB2\n"

        tested = sdc.ok("build", "--target", "test", "-q", str(context), timeout=300).strip()
        assert sdc.ok("run", "--rm", tested, "cat", "/tested") == "tested\n"
        assert sdc.ok("run", "--rm", tested, "ls", "/src").split() == ["a.txt", "b.txt"]  # (no secret.txt)
        sdc.ok("rmi", tested)
    finally:
        sdc("rmi", tag)


def test_a_failed_step_names_its_line_and_leaves_no_container(sdc: Sdc, image: str, context: Path) -> None:
    (context / "Containerfile").write_text("FROM bb\nRUN echo one\nRUN false\n")
    proc = sdc("build", str(context), timeout=300)
    assert proc.returncode != 0 and "Containerfile:3: RUN false returned a non-zero code: 1" in proc.stderr, proc
    assert "sdc-build-" not in sdc.ok("ps", "-a", "--format", "{{.Names}}")
    kept = sdc("build", "--rm=false", str(context), timeout=300)
    assert kept.returncode != 0 and "kept: sdc rm sdc-build-" in kept.stderr, kept
    leftover = kept.stderr.split("sdc rm ")[1].split(")")[0]
    assert leftover in sdc.ok("ps", "-a", "--format", "{{.Names}}")
    sdc.ok("rm", leftover)


@pytest.mark.parametrize(("containerfile", "said"), [
    ("FROM bb\nCOPY ../outside /x\n", "Containerfile:2: '../outside' not found in the build context"),
    ("FROM bb\nCOPY src/secret.txt /x\n", "left out of the context by its ignore file"),
    ("FROM bb\nRUN --mount=type=secret,id=a,target=/s true\n", "RUN --mount=type=secret is not taken"),
    ("FROM bb\n" + "ENV A=1\n" * 10_000, "more than 1000 instructions"),
    ("FROM bb\nADD evil.tar /x/\n", "Containerfile:2: evil.tar: archive member '../../escaped' climbs out"),
    ("FROM bb\nADD evil-link.tar /x/\n", "evil-link.tar: archive member 'up/tmp/escaped' goes through a symlink"),
    ("FROM bb\nARG A=$A$A\nRUN test -z \"$A\"\n", ""),
    ("FROM bb\nRUN --mount=type=cache,target=// true\n", "RUN --mount target='//': sdc mounts on a path below /"),
    ("FROM bb\nRUN --mount=type=cache,id=x,target=/a,sharing=locked --mount=type=cache,id=x,target=/b,sharing=locked "
     "--mount=type=cache,id=x,target=/c,sharing=private true\n", ""),  # (one lock: no wait on itself)
    ("FROM bb\nUSER 99999999999\nWORKDIR /x\n", "99999999999: an owner of 32 bits, less 1, is the largest"),
    ("FROM bb\nCOPY tool.sh README.md /x\n", "the destination must be a directory and end with a /"),
    ("FROM bb\nCOPY link/passwd /x\n", "not found in the build context"),
])  # fmt: skip
def test_hostile_containerfiles(sdc: Sdc, image: str, context: Path, containerfile: str, said: str) -> None:
    os.symlink("../outside", context / "link")
    with tarfile.open(context / "evil.tar", "w") as tar:  # (ADD unpacks a local archive: not outside its target)
        member = tarfile.TarInfo("../../escaped")
        tar.addfile(member)
    with tarfile.open(context / "evil-link.tar", "w") as tar:  # (a symlink out, then a file through it)
        link = tarfile.TarInfo("up")
        link.type, link.linkname = tarfile.SYMTYPE, "/"
        tar.addfile(link)
        tar.addfile(tarfile.TarInfo("up/tmp/escaped"))
    (context / "Containerfile").write_text(containerfile)
    proc = sdc("build", "-q", str(context), timeout=300)
    if not said:
        assert proc.returncode == 0, proc.stderr
        sdc.ok("rmi", proc.stdout.strip())
        return
    assert proc.returncode != 0 and said in proc.stderr and len(proc.stderr.strip().splitlines()) <= 2, proc.stderr
    assert "sdc-build-" not in sdc.ok("ps", "-a", "--format", "{{.Names}}")
    assert not any(p.exists() for p in (context.parent / "escaped", Path("/escaped"), Path("/tmp/escaped")))


def test_a_containerfile_on_standard_input_has_no_context(sdc: Sdc, image: str) -> None:
    proc = sdc("build", "-q", "-", input=b"FROM bb\nRUN echo made > /made\nCMD [\"cat\", \"/made\"]\n", timeout=300)
    assert proc.returncode == 0, proc.stderr
    built = proc.stdout.strip()
    try:
        assert sdc.ok("run", "--rm", built) == "made\n"
    finally:
        sdc("rmi", built)
    proc = sdc("build", "-", input=b"FROM bb\nCOPY x /x\n", timeout=300)
    assert proc.returncode != 0 and "needs a build context" in proc.stderr



HEREDOCS = """\
FROM bb
ARG WHO=builder
RUN <<END
echo one > /one
echo "$WHO" >> /one
END
RUN cat <<END > /two
made by $WHO
END
COPY <<END /etc/motd
hello from $WHO
END
COPY <<'RAW' /raw.txt
kept as written: $WHO
RAW
RUN <<SCRIPT
#!/bin/sh
echo "run as $0 by $WHO" > /script
SCRIPT
"""


def test_heredocs_in_run_and_copy(sdc: Sdc, image: str, context: Path) -> None:
    (context / "Containerfile").write_text(HEREDOCS)
    proc = sdc("build", "-q", str(context), timeout=300)
    assert proc.returncode == 0, proc.stderr
    built = proc.stdout.strip()
    try:
        assert sdc.ok("run", "--rm", built, "cat", "/one", "/two", "/etc/motd", "/raw.txt", "/script") == \
            "one\nbuilder\nmade by builder\nhello from builder\nkept as written: $WHO\n" \
            "run as /dev/pipes/SCRIPT by builder\n"  # (a #! heredoc: a program of its own)  # fmt: skip
        names = _layer_names(sdc, built, context.parent)
        assert "script" in names and not any(n.startswith("dev/pipes") for n in names)  # (its mount: in no layer)
    finally:
        sdc("rmi", built)


MOUNTS = """\
FROM bb AS tools
RUN mkdir /tools && echo helper > /tools/helper

FROM bb
WORKDIR /w
RUN --mount=type=cache,target=/var/cache/app,id=counter \\
    echo run >> /var/cache/app/log && wc -l < /var/cache/app/log > /runs
RUN --mount=type=bind,source=src,target=src ls src > /listing && ! touch src/new 2>/dev/null
RUN --mount=type=bind,source=src,target=/rw,rw echo scribbled > /rw/a.txt && cat /rw/a.txt > /scribbled
RUN --mount=from=tools,source=/tools,target=/mnt/t cat /mnt/t/helper > /helper
"""


def test_run_mounts_a_cache_the_context_and_a_stage(sdc: Sdc, image: str, context: Path) -> None:
    (context / "Containerfile").write_text(MOUNTS)
    built = []
    try:
        for _ in range(2):  # (no cache of steps: the cache mount's directory is kept from build to build)
            proc = sdc("build", "-q", "--no-cache", str(context), timeout=300)
            assert proc.returncode == 0, proc.stderr
            built.append(proc.stdout.strip())
        runs = [sdc.ok("run", "--rm", b, "cat", "/runs").strip() for b in built]
        assert int(runs[1]) == int(runs[0]) + 1, runs
        out = sdc.ok("run", "--rm", built[1], "cat", "/listing", "/scribbled", "/helper")
        assert out == "a.txt\nb.txt\nscribbled\nhelper\n"  # (secret.txt: left out by .dockerignore)
        gone = sdc("run", "--rm", built[1], "ls", "-d", "/var/cache/app", "/w/src", "/rw", "/mnt")
        assert gone.returncode != 0 and gone.stdout == "", gone  # (the mounts' targets: in no layer)
        assert (context / "src" / "a.txt").read_text() == "A\n"  # (rw: the mount's copy written, thrown away)
        again = sdc.ok("build", str(context), timeout=300)
        assert all("CACHED" in line for line in again.splitlines() if " RUN " in line), again
        (context / "src" / "b.txt").write_text("B2\n")  # (read by the bind mounts: those RUNs again)
        changed = sdc.ok("build", str(context), timeout=300)
        assert [("CACHED" in line) for line in changed.splitlines() if " RUN " in line] == \
            [True, True, False, False, False], changed  # fmt: skip
    finally:
        for b in built:
            sdc("rmi", b)


def test_intermediate_images_are_hidden_kept_by_image_prune_and_gone_with_builder_prune(fresh_sdc: Sdc,
                                                                                          busybox_tar: Path) -> None:
    sdc = fresh_sdc
    sdc.ok("import", str(busybox_tar), "bb")
    steps = "FROM bb\nRUN echo 1 > /1\nRUN echo 2 > /2\nRUN --mount=type=cache,target=/c echo 3 > /3\n"
    built = sdc.ok("build", "-q", "-", input=steps.encode(), timeout=300).strip()
    shown, every = sdc.ok("images", "-q", "--no-trunc").split(), sdc.ok("images", "-aq", "--no-trunc").split()
    assert built in shown and len(shown) == 2 and len(every) == 4, (shown, every)  # (bb; 3 steps', the last the result)
    assert sdc.ok("image", "prune", "-f").splitlines()[0] == f"Deleted: {built}"  # (an unnamed result: dangling)
    assert sorted(sdc.ok("images", "-aq", "--no-trunc").split()) == sorted(set(every) - {built})
    again = sdc.ok("build", "-", input=steps.encode(), timeout=300)  # (its steps' images: kept, the cache's)
    assert [("CACHED" in line) for line in again.splitlines() if " RUN " in line] == [True, True, False], again
    assert (sdc.root / "build-mounts").is_dir()
    out = sdc.ok("builder", "prune", "-f")
    assert out.count("Deleted: ") == 2 and "Total reclaimed space" in out, out  # (the result stays: a user's image)
    assert len(sdc.ok("images", "-aq").split()) == 2 and not (sdc.root / "build-mounts").exists()
    cold = sdc.ok("build", "-", input=steps.encode(), timeout=300)
    assert "CACHED" not in cold, cold


def test_squash_squash_all_and_no_layers(fresh_sdc: Sdc, busybox_tar: Path) -> None:
    sdc = fresh_sdc
    sdc.ok("import", str(busybox_tar), "bb")
    steps = b"FROM bb\nRUN echo 1 > /1\nENV A=1\nRUN echo 2 > /2 && rm /bin/vi\nCMD [\"cat\", \"/1\", \"/2\"]\n" \
        b"RUN cp /etc/passwd /p && sed -i s/root:x/ROOT:x/ /etc/passwd && touch -r /p /etc/passwd && rm /p\n"
    # (the last: a change of the same size under the same mtime, which a squash must see all the same)

    def built(*flags: str) -> tuple[str, int, str]:
        image = sdc.ok("build", "-q", *flags, "-", input=steps, timeout=300).strip()
        info = _inspect(sdc, image)
        assert "A=1" in info["Config"]["Env"]
        out = sdc.ok("run", "--rm", image) + sdc("run", "--rm", image, "ls", "/bin/vi").stdout
        out += sdc.ok("run", "--rm", image, "head", "-c", "4", "/etc/passwd")
        return image, len(info["RootFS"]["Layers"]), out

    layered = built()
    assert layered[1:] == (4, "1\n2\nROOT")
    squashed = built("--squash")
    assert squashed[1:] == (2, "1\n2\nROOT") and squashed[0] != layered[0]
    assert built("--squash")[0] == squashed[0]  # (again, from the cache: the same, and the cache kept)
    cached = sdc.ok("build", "-", input=steps, timeout=300)
    assert all("CACHED" in line for line in cached.splitlines() if " RUN " in line), cached
    assert built("--squash-all")[1:] == (1, "1\n2\nROOT")
    before = set(sdc.ok("images", "-aq", "--no-trunc").split())
    flat = built("--layers=false")
    assert flat[1:] == (2, "1\n2\nROOT")
    assert set(sdc.ok("images", "-aq", "--no-trunc").split()) == before | {flat[0]}  # (no step image kept)
    again = sdc.ok("build", "--layers=false", "-", input=steps, timeout=300)
    assert "CACHED" not in again, again


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on the test host's loopback, serving a directory: (its base URL, the directory)."""
    served = tmp_path / "served"
    served.mkdir()
    with serve_directory(served) as url:
        yield url, served


def test_add_fetches_urls(sdc: Sdc, image: str, context: Path, web: tuple[str, Path]) -> None:
    import hashlib

    base, served = web
    (served / "data.txt").write_text("fetched\n")
    with tarfile.open(served / "arch.tar", "w") as tar:
        tar.addfile(tarfile.TarInfo("inside"))
    checksum = "sha256:" + hashlib.sha256(b"fetched\n").hexdigest()
    (context / "Containerfile").write_text(f"""FROM bb
ADD {base}/data.txt /fetched/
ADD --checksum={checksum} {base}/data.txt /named.txt
ADD --chown=65534:65534 {base}/arch.tar /arch/
""")
    proc = sdc("build", "-q", "--network", "none", str(context), timeout=300)  # (RUN's network: not ADD's)
    assert proc.returncode == 0, proc.stderr
    built = proc.stdout.strip()
    try:
        listing = sdc.ok("run", "--rm", built, "ls", "-ln", "/fetched/data.txt", "/named.txt", "/arch/arch.tar")
        modes = [(line.split()[0], line.split()[2]) for line in listing.splitlines()]
        assert modes == [("-rw-------", "65534"), ("-rw-------", "0"), ("-rw-------", "0")], listing  # (not unpacked)
        assert sdc.ok("run", "--rm", built, "cat", "/fetched/data.txt", "/named.txt") == "fetched\nfetched\n"
        again = sdc.ok("build", "--network", "host", str(context), timeout=300)  # (fetched again: the same)
        assert all("CACHED" in line for line in again.splitlines() if " ADD " in line), again
        (served / "data.txt").write_text("changed\n")
        changed = sdc("build", "--network", "host", str(context), timeout=300)
        assert changed.returncode != 0 and "its checksum is sha256:" in changed.stderr, changed.stderr
        assert "Containerfile:3: ADD" in changed.stderr and len(changed.stderr.strip().splitlines()) == 1
    finally:
        sdc("rmi", built)
    for containerfile, said in [
        (f"FROM bb\nADD {base}/missing /x\n", "the server replied 404"),
        (f"FROM bb\nADD {base}/ /x\n", "its URL names no file to make"),
        ("FROM bb\nADD ftp://example.org/x /x\n", "sdc fetches http and https URLs alone"),
    ]:
        (context / "Containerfile").write_text(containerfile)
        proc = sdc("build", "--network", "host", str(context), timeout=300)
        assert proc.returncode != 0 and said in proc.stderr, proc.stderr


def test_from_another_platform_takes_the_stores_image_for_it(sdc: Sdc, image: str, context: Path,
                                                             busybox_tar: Path) -> None:  # fmt: skip
    """FROM --platform of another platform than the host's: the store's image when it is that
    platform's (COPY --from it), else an error that says how to get one."""
    import hashlib
    import io

    work = context.parent
    layer = busybox_tar.read_bytes()
    config = json.dumps({"architecture": "arm64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]}})
    manifest = json.dumps([{"Config": "config.json", "RepoTags": ["localhost/armbox:latest"], "Layers": ["l.tar"]}])
    with tarfile.open(work / "arm.tar", "w") as tar:
        for member, data in (("manifest.json", manifest.encode()), ("config.json", config.encode()), ("l.tar", layer)):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    sdc.ok("load", "-i", str(work / "arm.tar"))
    try:
        (context / "Containerfile").write_text("FROM --platform=linux/arm64 localhost/armbox AS arm\nFROM bb\n"
                                               "COPY --from=arm /etc/passwd /from-arm\n")
        built = sdc.ok("build", "-q", str(context), timeout=300).strip()
        assert sdc.ok("run", "--rm", built, "head", "-1", "/from-arm") == "root:x:0:0:root:/root:/bin/sh\n"
        sdc.ok("rmi", built)
        (context / "Containerfile").write_text("FROM --platform=linux/arm64 bb\nRUN true\n")
        proc = sdc("build", str(context), timeout=300)
        assert proc.returncode != 0 and "FROM --platform=linux/arm64: the store's bb is linux/amd64" in proc.stderr
        assert "sdc pull --platform linux/arm64 bb" in proc.stderr, proc.stderr
    finally:
        sdc("rmi", "localhost/armbox")


@contextlib.contextmanager
def _replying(reply: Callable[[socket.socket], None]) -> Iterator[str]:
    """A server on the test host's loopback that answers each connection with reply: its URL."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                conn.recv(65536)
                reply(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/file.txt"
    finally:
        done.set()
        server.close()
        thread.join(5)


def test_a_fetch_holds_its_bounds(tmp_path: Path) -> None:
    """ADD's fetch against hostile servers: a body cut short, 1xx replies for ever (the deadline
    ends it), a redirect to another scheme, more than the size it may take."""
    from sdcontainer.build import fetch
    from sdcontainer.build.dockerfile import DockerfileError

    def short(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)

    def forever(conn: socket.socket) -> None:
        while True:
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            time.sleep(0.05)

    def elsewhere(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: file:///etc/shadow\r\nContent-Length: 0\r\n\r\n")

    def large(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\n\r\n" + b"y" * 5000)

    cases = [(short, {}, "10 bytes came of the 100"), (forever, {"deadline": 1.0}, "no reply in"),
             (elsewhere, {}, "sdc fetches http and https URLs alone"), (large, {"max_size": 1000}, "more than a layer")]
    for reply, limits, said in cases:
        with _replying(reply) as url, open(tmp_path / "out", "wb") as out:
            start = time.monotonic()
            with pytest.raises(DockerfileError, match=said):
                fetch.fetch(url, out, at="Containerfile:2", **{"max_size": 1 << 20, **limits})  # type: ignore[arg-type]
            assert time.monotonic() - start < 10


def test_a_volume_of_the_stage_is_no_volume_of_its_runs(sdc: Sdc, image: str) -> None:
    """What a RUN writes under a VOLUME is in the image (BuildKit's and Buildah's rule), and no
    anonymous volume is made or left."""
    before = sdc.ok("volume", "ls", "-q")
    built = sdc.ok("build", "-q", "-", input=b"FROM bb\nVOLUME /data\nRUN mkdir -p /data && echo kept > /data/x\n",
                  timeout=300).strip()
    try:
        assert sdc.ok("volume", "ls", "-q") == before
        assert sdc.ok("run", "--rm", "-v", "/data", built, "cat", "/data/x") == "kept\n"
    finally:
        sdc("rmi", built)
