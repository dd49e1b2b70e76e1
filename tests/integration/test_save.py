"""`sdc save` (issue 7): archives that load into a fresh store as the same image (config bytes,
diff IDs, image ID), and that skopeo and umoci read as the tree they were made from."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc
from tests.integration.imagetools import run, tree
from tests.integration.test_load import config_digest, edge  # noqa: F401 - a fixture

pytestmark = pytest.mark.usefixtures("edge")


def image_id(sdc: Sdc, repository: str) -> str:
    [row] = [r for r in json.loads(sdc.ok("images", "--format", "json")) if r["Repository"] == repository]
    return str(row["Id"])


@pytest.mark.parametrize("fmt", ["oci-archive", "docker-archive"])
def test_saved_images_load_elsewhere_as_the_same_image(
    sdc: Sdc, fresh_sdc: Sdc, edge: dict[str, Path], tmp_path: Path, fmt: str  # noqa: F811
) -> None:
    sdc.ok("load", "-i", str(edge["docker"]))
    archive = tmp_path / "saved.tar"
    sdc.ok("save", "--format", fmt, "-o", str(archive), "test/edge:1")
    assert fresh_sdc.ok("load", "-i", str(archive)) == "Loaded image: test/edge:1\n"
    assert image_id(fresh_sdc, "test/edge") == image_id(sdc, "test/edge") == config_digest(edge["layout"])
    assert fresh_sdc.ok("run", "--rm", "test/edge:1", "cat", "/opaque/mine") == "this layer's\n"
    # Third-party tools read it: skopeo copies it out, umoci unpacks the very tree it was built as.
    run("skopeo", "copy", "-q", f"{fmt}:{archive}", f"oci:{tmp_path}/layout:copied")
    run("umoci", "unpack", "--image", f"{tmp_path}/layout:copied", str(tmp_path / "unpacked"))
    assert tree(tmp_path / "unpacked" / "rootfs") == tree(edge["unpacked"])


def test_save_to_stdout_and_by_id(sdc: Sdc, fresh_sdc: Sdc, edge: dict[str, Path]) -> None:  # noqa: F811
    sdc.ok("load", "-i", str(edge["oci"]))
    iid = image_id(sdc, "test/edge")
    proc = subprocess.run(sdc.argv("save", iid[7:19]), capture_output=True, env=sdc.env(), check=True)
    assert fresh_sdc.ok("load", input=proc.stdout) == f"Loaded image ID: {iid}\n"  # by ID: no name in it
    assert image_id(fresh_sdc, "<none>") == iid


def test_a_failed_save_leaves_no_archive(sdc: Sdc, tmp_path: Path) -> None:
    out = tmp_path / "out.tar"
    for args in (["no/such:image"], ["--format", "zip", "test/edge:1"]):
        proc = sdc("save", "-o", str(out), *args)
        assert proc.returncode == 125 and proc.stderr.count("\n") == 1, proc.stderr
        assert list(tmp_path.iterdir()) == []
