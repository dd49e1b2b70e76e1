"""Sizes of what a container wrote (api/usage.py) and the walks under them: a tree the container
made is hostile, so nothing here follows its symlinks or falls over on its depth."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sdcontainer.api.usage import tree_size
from sdcontainer.errors import StorageError
from sdcontainer.storage.changes import Tree
from sdcontainer.storage.overlay import _upper_paths


def deep(root: Path, levels: int) -> Path:
    """levels directories one in the other, made by fd (the path would pass PATH_MAX)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(levels):
        os.mkdir("d", dir_fd=fd)
        nxt = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nxt
    os.close(fd)
    return root


def undeep(root: Path) -> None:
    """The nest deep() made, taken apart from the top (shutil.rmtree, pytest's, recurses too)."""
    while (root / "d").exists():
        if (root / "d" / "d").exists():
            os.rename(root / "d" / "d", root / "next")
            os.rmdir(root / "d")
            os.rename(root / "next", root / "d")
        else:
            os.rmdir(root / "d")


def test_sizes_count_each_inode_once_and_follow_no_symlink(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x" * 1000)
    os.link(tmp_path / "a", tmp_path / "hard")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b").write_bytes(b"y" * 10)
    (tmp_path / "out").symlink_to("/usr")  # a symlink counts as itself, never what it names
    assert tree_size(tmp_path) == 1000 + 10 + len("/usr")


def test_a_tree_nested_deeper_than_the_walk_goes_is_an_error_or_a_partial_size(tmp_path: Path) -> None:
    deep(tmp_path, 1500)
    (tmp_path / "f").write_bytes(b"z" * 7)
    assert tree_size(tmp_path) in (0, 7)  # no RecursionError out of it
    with pytest.raises(StorageError, match="nested too deep"):
        _upper_paths(tmp_path)
    tree = Tree(tmp_path)
    try:
        with pytest.raises(StorageError, match="nested too deep"):
            list(tree.walk(""))
    finally:
        tree.close()
        undeep(tmp_path)
