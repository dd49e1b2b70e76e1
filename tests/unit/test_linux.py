"""Paths resolved inside a container's root (linux.make_in_root), on a plain directory tree."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sdcontainer import linux


@pytest.fixture
def root(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    tree = tmp_path / "root"
    tree.mkdir()
    fd = os.open(tree, os.O_PATH | os.O_DIRECTORY)
    yield tree, fd
    os.close(fd)


def where(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


def test_absolute_and_relative_links_and_dot_dot_stay_in_the_root(root: tuple[Path, int], tmp_path: Path) -> None:
    tree, fd = root
    outside = tmp_path / "outside"
    outside.mkdir()
    (tree / "etc").symlink_to(outside)  # absolute: the container's /…/outside, not the host's
    (tree / "up").symlink_to("../../../..")  # climbs no higher than the root
    made = linux.make_in_root(fd, "/etc/hostname", directory=False)
    try:
        assert where(made) == str(tree / str(outside).lstrip("/") / "hostname")
    finally:
        os.close(made)
    made = linux.make_in_root(fd, "up/x/../y", directory=True)
    try:
        assert where(made) == str(tree / "y")
    finally:
        os.close(made)
    assert list(outside.iterdir()) == []


def test_what_a_dangling_link_names_is_made_inside(root: tuple[Path, int]) -> None:
    tree, fd = root
    (tree / "run").symlink_to("/var/run/new")
    made = linux.make_in_root(fd, "/run/lock", directory=True)
    os.close(made)
    assert (tree / "var" / "run" / "new" / "lock").is_dir()


def test_a_link_loop_is_an_error(root: tuple[Path, int]) -> None:
    tree, fd = root
    (tree / "a").symlink_to("b")
    (tree / "b").symlink_to("a")
    with pytest.raises(OSError, match="symbolic links"):
        linux.make_in_root(fd, "a/x", directory=True)
