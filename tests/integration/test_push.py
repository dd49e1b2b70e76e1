"""`sdc push` (issue 7) to a real registry on 127.0.0.1: a committed change survives push and pull
into a fresh store, skopeo and umoci read what sdc pushed, nothing is sent twice; a registry that
wants basic auth, and one that wants a Bearer token from a token server."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc, rootfs_of
from tests.integration.imagetools import run, tree
from tests.integration.registry import serve, serve_with_tokens


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(tmp_path_factory.mktemp("push-registry")) as address:
        yield address


def committed(sdc: Sdc, image: str, name: str, tag: str) -> None:
    """A container of image that changed, added and deleted files, committed as tag."""
    script = "echo pushed > /etc/new; rm /bin/vi; mkdir -p /srv/x; echo y > /srv/x/y; touch /ready; exec sleep 1000"
    sdc.ok("run", "-d", "--name", name, image, "sh", "-c", script)
    for _ in range(100):
        if "A /ready" in sdc.ok("diff", name):
            break
        time.sleep(0.1)
    sdc.ok("commit", "-c", "CMD cat /etc/new", name, tag)


def test_commit_push_pull_elsewhere_run(
    sdc: Sdc, fresh_sdc: Sdc, image: str, name: str, registry: str, tmp_path: Path
) -> None:
    committed(sdc, image, name, "test/pushme:1")
    target = f"{registry}/team/app:stable"
    proc = sdc("push", "test/pushme:1", target)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count(": Pushed") == 2 and f"The push refers to repository [{registry}/team/app]" in proc.stderr
    ids = {status: {line.split(":")[0] for line in proc.stderr.splitlines() if line.endswith(f": {status}")}
           for status in ("Pushing", "Pushed")}  # fmt: skip
    assert ids["Pushing"] == ids["Pushed"] and len(ids["Pushed"]) == 2, proc.stderr  # one ID a layer
    pushed, digest = proc.stdout.strip().split("@")
    assert pushed == target
    # In a fresh store: pulled by digest, run; the change is there, the deleted file stays deleted.
    fresh_sdc.ok("pull", "-q", f"{registry}/team/app@{digest}")
    assert fresh_sdc.ok("run", "--rm", f"{registry}/team/app@{digest}") == "pushed\n"
    check = "test -e /bin/vi || echo vi-gone; cat /srv/x/y"
    assert fresh_sdc.ok("run", "--rm", f"{registry}/team/app@{digest}", "sh", "-c", check) == "vi-gone\ny\n"
    ids = [{r["Id"] for r in json.loads(s.ok("images", "--format", "json"))} for s in (sdc, fresh_sdc)]
    assert ids[1] <= ids[0]  # the same image ID: config and layers as they were
    # skopeo reads what sdc pushed; umoci unpacks the container's tree from it.
    run("skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{target}", f"oci:{tmp_path}/layout:app")
    run("umoci", "unpack", "--image", f"{tmp_path}/layout:app", str(tmp_path / "unpacked"))
    rootfs = rootfs_of(sdc, name)
    init = {"proc", "sys", "dev", "run", "tmp", "etc/hostname", "etc/hosts", "etc/resolv.conf", "ready"}
    mine = {p: e for p, e in tree(rootfs).items() if p not in init}
    theirs = {p: e for p, e in tree(tmp_path / "unpacked" / "rootfs").items() if p not in init}
    assert mine == theirs
    # Again: nothing is sent twice; to another repository of the registry, mounted from the first.
    again = sdc("push", "test/pushme:1", target)
    assert again.stderr.count("Layer already exists") == 2 and again.stdout.strip().endswith(digest), again.stderr
    pulled = fresh_sdc("push", f"{registry}/team/app@{digest}", f"{registry}/other/app:1")
    assert pulled.returncode == 0 and pulled.stderr.count("Mounted from team/app") == 2, pulled.stderr


def test_push_errors_are_one_line(sdc: Sdc, image: str, registry: str) -> None:
    for args, says in (
        (["no/such:image", f"{registry}/x/y:1"], "no such image"),
        ([image, f"{registry}/x/y@sha256:{'0' * 64}"], "cannot push to a digest"),
        ([image, "127.0.0.1:1/x/y:1"], "cannot reach"),
        ([image, "UPPER/case"], "invalid"),
    ):
        proc = sdc("push", *args)
        assert proc.returncode == 125 and proc.stderr.count("sdc: error") == 1, proc.stderr
        assert says in proc.stderr, proc.stderr


def test_basic_auth(sdc: Sdc, fresh_sdc: Sdc, image: str, tmp_path: Path) -> None:
    with warnings.catch_warnings():  # deprecated, but the only bcrypt (the registry's htpasswd wants it) here
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

    (tmp_path / "htpasswd").write_text(f"ada:{crypt.crypt('s3cret', crypt.mksalt(crypt.METHOD_BLOWFISH))}\n")
    auth = {"htpasswd": {"realm": "sdc-test", "path": str(tmp_path / "htpasswd")}}
    with serve(tmp_path / "registry", auth=auth) as address:
        proc = sdc("push", image, f"{address}/locked/bb:1")
        assert proc.returncode == 125 and proc.stderr.count("\n") == 2 and "log in" in proc.stderr, proc.stderr
        wrong = sdc("login", address, "-u", "ada", "--password-stdin", input=b"wrong\n")
        assert wrong.returncode == 125 and wrong.stderr.count("\n") == 1 and "refused" in wrong.stderr, wrong.stderr
        assert sdc.ok("login", address, "-u", "ada", "--password-stdin", input=b"s3cret\n") == "Login Succeeded\n"
        sdc.ok("push", "-q", image, f"{address}/locked/bb:1")
        assert fresh_sdc("pull", f"{address}/locked/bb:1").returncode == 125  # no credentials there
        fresh_sdc.ok("login", address, "-u", "ada", "--password-stdin", input=b"s3cret\n")
        fresh_sdc.ok("pull", "-q", f"{address}/locked/bb:1")
        assert fresh_sdc.ok("run", "--rm", f"{address}/locked/bb:1", "echo", "in") == "in\n"
        sdc.ok("logout", address)


def test_bearer_token_auth(sdc: Sdc, fresh_sdc: Sdc, image: str, tmp_path: Path) -> None:
    with serve_with_tokens(tmp_path, users={"ada": "s3cret"}) as (address, tokens):
        proc = sdc("push", image, f"{address}/tok/bb:1")
        assert proc.returncode == 125 and "wants credentials" in proc.stderr, proc.stderr
        wrong = sdc("login", address, "-u", "ada", "--password-stdin", input=b"nope\n")
        assert wrong.returncode == 125 and wrong.stderr.count("\n") == 1 and "refused" in wrong.stderr, wrong.stderr
        sdc.ok("login", address, "-u", "ada", "--password-stdin", input=b"s3cret\n")
        sdc.ok("push", "-q", image, f"{address}/tok/bb:1")
        fresh_sdc.ok("login", address, "-u", "ada", "--password-stdin", input=b"s3cret\n")
        fresh_sdc.ok("pull", "-q", f"{address}/tok/bb:1")
        assert fresh_sdc.ok("run", "--rm", f"{address}/tok/bb:1", "echo", "in") == "in\n"
        # the registry asked for, and sdc got, tokens scoped to the repository: pull,push to push
        assert "repository:tok/bb:pull,push" in tokens and "repository:tok/bb:pull" in tokens
        sdc.ok("logout", address)
