"""Every parser of outside input, fuzzed (issue 22, must show): layer tarballs (headers and members),
image archives (docker-archive's manifest.json, OCI layouts: indexes, manifests, configs), registry
replies (manifests, indexes, errors), digests and references, --env-file, every `sdc run` flag's
value, and image records. Whatever comes in: a result, or one SdcError, never a traceback, and
nothing written outside the layer's root.

CI runs a fixed number of examples, the same ones every time (derandomize); more on demand:
SDC_FUZZ_EXAMPLES=5000 ./dev test tests/unit/test_fuzz.py."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sdcontainer.errors import SdcError

EXAMPLES = int(os.environ.get("SDC_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # fmt: skip

# --- values from outside ---------------------------------------------------------------------

TEXT = st.text(st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ["", ".", "..", "/", "../../etc", "/etc/passwd", "a\0b", "sha256:" + "a" * 64, "x" * 300, "-1", "1e309", "nan"]
)
JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(TEXT, inner, max_size=5),
    max_leaves=25,
)


def _no_traceback(call: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    except SdcError:
        return None


# --- layer tarballs --------------------------------------------------------------------------

TYPES = [tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE,
         tarfile.BLKTYPE, tarfile.CONTTYPE, b"x", b"g", b"L", b"K", b"S", b"Z"]  # fmt: skip
NAMES = TEXT | st.sampled_from(["a", "a/b", "a/../../x", ".wh.a", "a/.wh..wh..opq", ".wh..wh..opq", "./a", "a/"])


@st.composite
def members(draw: st.DrawFn) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(draw(NAMES))
    info.type = draw(st.sampled_from(TYPES))
    info.linkname = draw(NAMES)
    data = draw(st.binary(max_size=64))
    info.size = len(data)
    info.mode = draw(st.integers(min_value=0, max_value=0o7777))
    info.uid, info.gid = draw(st.integers(min_value=0, max_value=2**21 - 1)), draw(st.integers(0, 2**21 - 1))
    info.mtime = draw(st.integers(min_value=0, max_value=2**33 - 1))
    if draw(st.booleans()):
        info.pax_headers = draw(st.dictionaries(st.sampled_from(
            ["path", "linkpath", "size", "uid", "mtime", "SCHILY.xattr.user.x", "SCHILY.xattr.security.capability",
             "GNU.sparse.map", "GNU.sparse.size"]), TEXT, max_size=3))  # fmt: skip
    return info, data


@st.composite
def tarballs(draw: st.DrawFn) -> bytes:
    buf = io.BytesIO()
    fmt = draw(st.sampled_from([tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT]))
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as archive:
        for info, data in draw(st.lists(members(), max_size=6)):
            try:
                archive.addfile(info, io.BytesIO(data))
            except (ValueError, OverflowError, UnicodeError):
                pass  # tarfile will not write it: no archive to try
    raw = bytearray(buf.getvalue())
    for _ in range(draw(st.integers(min_value=0, max_value=3))):  # a few bytes garbled
        if raw:
            raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
    cut = draw(st.none() | st.integers(min_value=0, max_value=len(raw)))
    return bytes(raw if cut is None else raw[:cut])


@FUZZ
@given(tarballs() | st.binary(max_size=2048))
def test_a_layer_tarball_is_applied_or_refused_in_one_error(tmp_path: Path, data: bytes) -> None:
    from sdcontainer.layers import extract_layer

    outside = tmp_path / "outside"
    outside.mkdir(exist_ok=True)
    root = tmp_path / "root"
    if root.exists():
        import shutil

        shutil.rmtree(root)
    root.mkdir()
    _no_traceback(extract_layer, io.BytesIO(data), root, max_size=1 << 20, split=io.BytesIO())
    assert list(outside.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["outside", "root"]


# --- image archives, registry replies, digests, references ------------------------------------


def _archive(files: dict[str, bytes]) -> tarfile.TarFile:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    buf.seek(0)
    from sdcontainer.images.archive import open_archive

    return open_archive(buf)


@FUZZ
@given(JSON, JSON)
def test_a_docker_archive_manifest_is_read_or_refused(manifest: Any, config: Any) -> None:
    from sdcontainer.images import archive

    tar = _archive({"manifest.json": json.dumps(manifest).encode(), "c.json": json.dumps(config).encode(),
                    "l.tar": b""})  # fmt: skip
    for found in _no_traceback(archive._docker_archive, tar) or []:
        _no_traceback(archive.config_diff_ids, found.config)


@FUZZ
@given(JSON, JSON)
def test_an_oci_layout_is_read_or_refused(index: Any, manifest: Any) -> None:
    import hashlib

    from sdcontainer.images import archive

    body = json.dumps(manifest).encode()
    digest = hashlib.sha256(body).hexdigest()
    if isinstance(index, dict) and isinstance(index.get("manifests"), list):
        index["manifests"].append({"mediaType": archive.OCI_MANIFEST, "digest": f"sha256:{digest}",
                                   "size": len(body)})  # fmt: skip
    tar = _archive({"oci-layout": b"{}", "index.json": json.dumps(index).encode(), f"blobs/sha256/{digest}": body})
    _no_traceback(archive._oci_archive, tar)


@FUZZ
@given(JSON)
def test_an_image_config_is_checked_or_refused(config: Any) -> None:
    from sdcontainer.images.archive import config_diff_ids
    from sdcontainer.images.config import check_image_config

    _no_traceback(check_image_config, config)
    _no_traceback(config_diff_ids, json.dumps(config).encode())


@FUZZ
@given(JSON, TEXT)
def test_a_registrys_manifest_index_and_error_are_read_or_refused(document: Any, platform: str) -> None:
    from sdcontainer.images import pull, reference, registry

    if isinstance(document, dict):
        _no_traceback(pull._parts, document)
        _no_traceback(pull.choose, document, platform, reference.parse("example.com/x:1"))
    assert isinstance(registry._error_message(json.dumps(document)), str)


URLISH = TEXT | st.sampled_from(["http://[::1", "https://h:99999/", "https://h:x/", "//other/", "/v2/x", "file:///etc",
                                 "http://127.0.0.1:5000/token", "https://auth.example.com/token?a=b", "http://"])


@FUZZ
@given(st.sampled_from(["https://r.example.com/v2/x", "http://127.0.0.1:5000/v2/x"]), URLISH)
def test_a_registrys_redirect_is_followed_or_refused(url: str, location: str) -> None:
    """A Location header from a registry: an http(s) URL to follow, never HTTPS to HTTP."""
    from sdcontainer.images.registry import redirect_target

    following = _no_traceback(redirect_target, "r.example.com", url, location)
    if following is not None:
        assert following.startswith("https://" if url.startswith("https") else ("http://", "https://"))


@FUZZ
@given(URLISH, st.dictionaries(st.sampled_from(["service", "scope"]), TEXT, max_size=2))
def test_a_challenges_token_realm_is_taken_or_refused(realm: str, query: dict[str, str]) -> None:
    from sdcontainer.images.registry import token_url

    parsed = _no_traceback(token_url, "r.example.com", realm, query)
    if parsed is not None:
        assert parsed.scheme == "https" or parsed.hostname in ("localhost", "127.0.0.1", "::1")


ACCOUNT_FILE = st.lists(st.lists(TEXT | st.sampled_from(["0", "²", "٣", "4294967296", "1000"]), max_size=8)
                        .map(":".join), max_size=5).map("\n".join)  # fmt: skip


@FUZZ
@given(TEXT | st.sampled_from(["²", "٣:0", "0:²", "99999999999", "root:root", ":"]), ACCOUNT_FILE, ACCOUNT_FILE)
def test_an_images_user_is_resolved_in_its_account_files_or_refused(user: str, passwd: str, group: str) -> None:
    """The image's User against its own /etc/passwd and /etc/group: ids a kernel takes, or one SdcError."""
    from sdcontainer.bundle import resolve_account

    account = _no_traceback(resolve_account, user, passwd, group)
    if account is not None:
        assert all(0 <= i <= 0xFFFFFFFE for i in (account.uid, account.gid, *account.groups))


@FUZZ
@given(TEXT)
def test_digests_and_references_are_parsed_or_refused(text: str) -> None:
    from sdcontainer.digests import Digest
    from sdcontainer.images import reference

    _no_traceback(Digest.parse, text)
    _no_traceback(reference.parse, text)


@FUZZ
@given(JSON)
def test_an_image_record_is_read_or_refused(record: Any) -> None:
    from sdcontainer.images import Image

    if isinstance(record, dict):
        _no_traceback(Image.from_json, record)


# --- what users type -------------------------------------------------------------------------


@FUZZ
@given(st.text(max_size=300))
def test_an_env_file_is_read_or_refused(text: str) -> None:
    from sdcontainer.spec import parse_env_file

    _no_traceback(parse_env_file, text, path="f", environ={"HOME": "/root"})


def _values(kind: type) -> st.SearchStrategy[Any]:
    if kind is bool:
        return st.booleans()
    if kind is int:
        return st.integers(min_value=-(2**80), max_value=2**80)
    if kind is float:
        return st.floats()
    if kind is list:
        return st.lists(TEXT, max_size=3)
    return TEXT


@pytest.mark.parametrize("flag", [f.param for f in __import__("sdcontainer.spec", fromlist=["RUN_FLAGS"]).RUN_FLAGS])
def test_every_run_flags_value_is_taken_or_refused(flag: str) -> None:
    from sdcontainer.spec import RUN_FLAGS, build_run_spec

    kind = next(f.kind for f in RUN_FLAGS if f.param == flag)

    @FUZZ
    @given(_values(kind))
    def run(value: Any) -> None:
        _no_traceback(build_run_spec, image="x", command=["true"], environ={}, **{flag: value})

    run()


MOUNT_WORDS = st.sampled_from(["type=bind", "type=volume", "type=tmpfs", "src=data", "source=/", "dst=/x",
                               "target=/a/../b", "destination=/y", "readonly", "ro=false", "volume-nocopy",
                               "tmpfs-size=1m", "tmpfs-mode=700", "bind-propagation=rprivate", "idmap", '"', ",",
                               "=", "src=./", "dst=/x:y"]) | TEXT  # fmt: skip


@FUZZ
@given(st.lists(MOUNT_WORDS, max_size=6).map(",".join), st.lists(MOUNT_WORDS, max_size=3).map(":".join))
def test_mounts_are_parsed_into_well_formed_records_or_refused(mount: str, volume: str) -> None:
    """Whatever -v, --mount and --tmpfs are given: one UsageError, or a record of the fields the
    launcher takes apart by ':' (the container's path absolute, no '..', not /)."""
    from sdcontainer.volumes import TMPFS, parse_mount, parse_tmpfs, parse_volume

    for parse, text in ((parse_mount, mount), (parse_volume, volume), (lambda t: (TMPFS, parse_tmpfs(t)), volume)):
        try:
            kind, entry = parse(text)
        except SdcError:
            continue
        fields = entry.split(":")
        assert len(fields) == (2 if kind == TMPFS else 3)
        path = fields[0] if kind == TMPFS else fields[1]
        assert path.startswith("/") and path != "/" and ".." not in path.split("/")
