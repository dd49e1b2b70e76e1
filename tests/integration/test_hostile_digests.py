"""Digests from outside never name a host path (issue 21, item 4).

An image config's rootfs.diff_ids, a manifest's and an index's digests, and the IDs in the
store's own records were used as store paths unchecked: a docker-archive whose diff ID was
`/tmp/victimdir` made sdc snapshot that host directory, and on vfs `rmi` moved it into the store
and deleted it. Each value of a corpus (absolute and `../` paths, empty, upper case, the wrong
length, another algorithm, a NUL byte, not a string) goes through `load`, `pull` (from a real
registry, and from a registry that serves hostile manifests itself) and records edited on disk, on
each driver: each is refused with one line, the store is as it was, and the marker directory
outside it is untouched."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import io
import json
import secrets
import shutil
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc, new_store, store_state
from tests.integration.registry import serve, upload

GOOD = "sha256:" + "a" * 64


def corpus(victim: Path) -> dict[str, object]:
    """Name: a value where a digest belongs."""
    return {
        "absolute": str(victim),
        "relative": "../../../" + str(victim).removeprefix("/var/lib/"),  # from the store's layers/
        "prefixed-path": "sha256:../../../" + str(victim).removeprefix("/var/lib/"),
        "empty": "",
        "upper-case": GOOD.upper(),
        "short": GOOD[:-1],
        "long": GOOD + "a",
        "sha512": "sha512:" + "a" * 128,
        "md5": "md5:" + "a" * 32,
        "nul": GOOD[:-1] + "\0",
        "not-a-string": 42,
    }


CASES = list(corpus(Path("/var/lib/x")))
# Every value through one path (load); the other paths, each on every driver, take those that
# name a place, and a few of the others: one parser reads them all (tests/unit/test_digests.py).
PATHS = ["absolute", "relative", "prefixed-path"]
SOME = [*PATHS, "upper-case", "sha512", "not-a-string"]


@pytest.fixture(scope="module")
def victim() -> Iterator[Path]:
    """A host directory beside the stores, on their file system: nothing may read, move or delete it."""
    where = Path(f"/var/lib/sdc-victim-{secrets.token_hex(4)}")
    (where / "dir").mkdir(parents=True)
    (where / "dir" / "precious").write_text("the host's\n")
    yield where / "dir"
    shutil.rmtree(where)


def untouched(victim: Path) -> None:
    assert sorted(p.name for p in victim.parent.iterdir()) == ["dir"], "something was made beside it"
    assert [p.name for p in victim.iterdir()] == ["precious"] and (victim / "precious").read_text() == "the host's\n"


@pytest.fixture(scope="module", params=["btrfs", "overlay", "vfs"])
def any_driver(request: pytest.FixtureRequest) -> Iterator[Sdc]:
    """A store of each driver, vfs too: the one whose rmi used to move a host directory away."""
    with new_store() as root:
        yield Sdc(root, str(request.param))


def tar_of(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_700_000_000
            archive.addfile(info, io.BytesIO(data))
    return buf.getvalue()


LAYER = tar_of({"etc/hostname": b"x\n"})


def config_with(diff_ids: list[object]) -> bytes:
    return json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                       "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()  # fmt: skip


def refused(sdc: Sdc, victim: Path, *args: str, input: bytes | None = None) -> str:
    before = store_state(sdc.root)
    proc = sdc(*args, input=input)
    assert proc.returncode != 0, proc
    errors = [line for line in proc.stderr.splitlines() if line.startswith("sdc: error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr  # one line, no traceback
    assert store_state(sdc.root) == before
    untouched(victim)
    return errors[0]


@pytest.mark.parametrize("case", CASES)
def test_load_refuses_a_diff_id_that_is_no_digest(any_driver: Sdc, victim: Path, case: str) -> None:
    value = corpus(victim)[case]
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for name, data in {"config.json": config_with([value]), "layer.tar": LAYER,
                           "manifest.json": json.dumps([{"Config": "config.json", "RepoTags": ["hostile:1"],
                                                         "Layers": ["layer.tar"]}]).encode()}.items():  # fmt: skip
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    error = refused(any_driver, victim, "load", input=archive.getvalue())
    assert "not a digest" in error, error


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(tmp_path_factory.mktemp("digest-registry")) as address:
        yield address


@pytest.mark.parametrize("case", SOME)
def test_pull_refuses_a_diff_id_that_is_no_digest(any_driver: Sdc, victim: Path, registry: str, case: str) -> None:
    config = config_with([corpus(victim)[case]])
    manifest = {
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": _sha256(config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": _sha256(LAYER),
                    "size": len(LAYER)}],
    }  # fmt: skip
    upload(registry, f"hostile/{case}", "1", [LAYER, config], manifest)
    error = refused(any_driver, victim, "pull", f"{registry}/hostile/{case}:1")
    assert "not a digest" in error, error


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@contextlib.contextmanager
def hostile_registry(documents: dict[str, tuple[str, bytes]]) -> Iterator[str]:
    """A registry of the attacker's own: path -> (content type, body), 404 for anything else. A
    real one checks the digests of what is pushed to it; this one serves what it likes."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            kind, body = documents.get(self.path, ("text/plain", b""))
            self.send_response(200 if self.path in documents or self.path == "/v2/" else 404)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


@pytest.mark.parametrize("where", ["layer", "config", "index"])
@pytest.mark.parametrize("case", PATHS)
def test_pull_refuses_a_manifest_digest_that_is_no_digest(any_driver: Sdc, victim: Path, case: str,
                                                          where: str) -> None:  # fmt: skip
    value = corpus(victim)[case]
    config = config_with([_sha256(LAYER)])
    layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": _sha256(LAYER), "size": len(LAYER)}
    descriptor = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": _sha256(config),
                  "size": len(config)}  # fmt: skip
    if where == "layer":
        layer["digest"] = value
    elif where == "config":
        descriptor["digest"] = value
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": descriptor,
                           "layers": [layer]}).encode()  # fmt: skip
    documents = {f"/v2/evil/blobs/{_sha256(data)}": ("application/octet-stream", data) for data in (config, LAYER)}
    if where == "index":
        index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": value, "size": len(manifest),
             "platform": {"os": "linux", "architecture": "amd64"}}]}).encode()  # fmt: skip
        documents["/v2/evil/manifests/1"] = (OCI_INDEX, index)
    else:
        documents["/v2/evil/manifests/1"] = (OCI_MANIFEST, manifest)
    with hostile_registry(documents) as address:
        error = refused(any_driver, victim, "pull", f"{address}/evil:1")
    assert "not a digest" in error, error


@pytest.fixture(scope="module")
def image_record(any_driver: Sdc, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A good image in the store, whose record each test edits and puts back."""
    work = tmp_path_factory.mktemp("edited")
    (work / "rootfs" / "etc").mkdir(parents=True)
    (work / "rootfs" / "etc" / "salt").write_text(secrets.token_hex(8))  # an image of this store's own
    with tarfile.open(work / "root.tar", "w") as tar:
        tar.add(work / "rootfs", arcname=".")
    image_id = any_driver.ok("import", str(work / "root.tar"), "edited:1").strip()
    yield any_driver.root / "images" / f"{image_id.removeprefix('sha256:')}.json"
    any_driver("rmi", "-f", "edited:1")


@pytest.mark.parametrize("case", [*PATHS, "not-a-string"])
@pytest.mark.parametrize("field", ["layers", "id"])
def test_a_record_edited_on_disk_names_no_host_path(any_driver: Sdc, image_record: Path, victim: Path, case: str,
                                                    field: str) -> None:  # fmt: skip
    original = image_record.read_text()
    data = json.loads(original)
    data[field] = [corpus(victim)[case]] if field == "layers" else corpus(victim)[case]
    image_record.write_text(json.dumps(data))
    try:
        for args in (("rmi", "-f", "edited:1"), ("run", "--rm", "edited:1", "true"), ("image", "prune", "-a", "-f"),
                     ("save", "-o", "/dev/null", "edited:1")):  # fmt: skip
            error = refused(any_driver, victim, *args)
            assert "not a digest" in error or "image record's" in error, (args, error)
    finally:
        image_record.write_text(original)


def test_a_name_that_is_an_image_id_is_not_taken_for_it(any_driver: Sdc, tmp_path: Path) -> None:
    """An image ID is never a name (as Docker has it): neither `sha256:<ID>` nor the bare 64 hex
    digits can be given to another image, by `tag` or by an archive; both always mean the image
    of that ID, or none."""
    for salt in ("first", "second"):
        (tmp_path / salt / "etc").mkdir(parents=True)
        (tmp_path / salt / "etc" / "salt").write_text(salt + secrets.token_hex(4))
        with tarfile.open(tmp_path / f"{salt}.tar", "w") as tar:
            tar.add(tmp_path / salt, arcname=".")
    first = any_driver.ok("import", str(tmp_path / "first.tar"), "first:1").strip()
    second = any_driver.ok("import", str(tmp_path / "second.tar"), "second:1").strip()
    try:
        for name in (first, first.removeprefix("sha256:"), first.removeprefix("sha256:") + ":latest"):
            proc = any_driver("tag", "second:1", name)
            assert proc.returncode == 125 and "is not a name" in proc.stderr, proc
        any_driver.ok("save", "-o", str(tmp_path / "second-saved.tar"), "--format", "docker-archive", "second:1")
        with tarfile.open(tmp_path / "second-saved.tar") as saved, \
                tarfile.open(tmp_path / "renamed.tar", "w") as renamed:  # fmt: skip
            for member in saved.getmembers():
                data = saved.extractfile(member).read() if member.isfile() else None  # type: ignore[union-attr]
                if member.name == "manifest.json" and data is not None:
                    entries = json.loads(data)
                    entries[0]["RepoTags"] = [first.removeprefix("sha256:") + ":latest"]
                    data = json.dumps(entries).encode()
                    member.size = len(data)
                renamed.addfile(member, io.BytesIO(data) if data is not None else None)
        any_driver.ok("load", "-i", str(tmp_path / "renamed.tar"))
        for ref in (first, first.removeprefix("sha256:"), first.removeprefix("sha256:")[:12]):
            assert json.loads(any_driver.ok("image", "inspect", ref))[0]["Id"] == first, ref
    finally:
        any_driver("rmi", "-f", first, second)
