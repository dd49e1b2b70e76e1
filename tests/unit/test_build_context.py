"""A build's context (sdcontainer/build/context.py): nothing outside it read, the ignore file
honoured, globs as COPY's, and a content hash that follows what COPY takes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sdcontainer.build.context import Context, ContextError, Source, clean_source


@pytest.fixture
def context(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "a.py").write_text("a")
    (root / "src" / "b.py").write_text("b")
    (root / "src" / "pkg" / "c.py").write_text("c")
    (root / "README.md").write_text("readme")
    (root / "secret.key").write_text("no")
    (root / "build.log").write_text("log")
    (root / ".dockerignore").write_text("*.key\n*.log\n!keep.log\n")
    (root / "keep.log").write_text("kept")
    (tmp_path / "outside").write_text("outside")
    os.symlink("../outside", root / "up")
    os.symlink("/etc/passwd", root / "abs")
    os.symlink("src", root / "inner")
    return root


def test_paths_and_globs_stay_inside(context: Path) -> None:
    with Context(str(context)) as ctx:
        mode = ctx.lstat("README.md").st_mode
        assert ctx.resolve("../../README.md", at="Containerfile:2") == [Source("README.md", mode, "README.md")]
        assert [s.path for s in ctx.resolve("src/*.py", at="x")] == ["src/a.py", "src/b.py"]
        assert [s.path for s in ctx.resolve("*/pkg/?.py", at="x")] == ["src/pkg/c.py"]  # (inner/: src/, once)
        assert [s.path for s in ctx.resolve("[kR]*", at="x")] == ["README.md", "keep.log"]
        assert [(s.path, s.name) for s in ctx.resolve("inner/[^b]*.py", at="x")] == [("src/a.py", "a.py")]
        [linked] = ctx.resolve("inner", at="x")  # (a symlink source: followed, named as itself)
        assert (linked.path, linked.name) == ("src", "inner")
        for link in ("up", "abs"):  # (a symlink out resolves inside: there is no such file there)
            with pytest.raises(FileNotFoundError):
                os.close(ctx.open(link))
        fd = ctx.open("inner/a.py")
        assert os.read(fd, 10) == b"a"
        os.close(fd)


@pytest.mark.parametrize(("pattern", "said"), [
    ("secret.key", "left out of the context by its ignore file"),
    ("missing", "not found in the build context"),
    ("*.key", "matches none"),
    ("nope/*", "matches none"),
])  # fmt: skip
def test_what_is_not_there_is_said(context: Path, pattern: str, said: str) -> None:
    with Context(str(context)) as ctx, pytest.raises(ContextError, match=said) as caught:
        ctx.resolve(pattern, at="Containerfile:3")
    assert caught.value.message.startswith("Containerfile:3: ") and caught.value.hint


def test_the_walk_leaves_out_what_is_ignored(context: Path) -> None:
    with Context(str(context)) as ctx:
        paths = [p for p, _ in ctx.walk(ctx.resolve(".", at="x")[0])]
    assert "secret.key" not in paths and "build.log" not in paths and "keep.log" in paths
    assert paths[0] == "" and "src/pkg/c.py" in paths and "up" in paths  # (a symlink: itself)


def test_the_content_hash_follows_contents_and_modes_not_times(context: Path) -> None:
    with Context(str(context)) as ctx:
        before = ctx.content_hash(ctx.resolve("src", at="x"))
        os.utime(context / "src" / "a.py", (1, 1))
        assert ctx.content_hash(ctx.resolve("src", at="x")) == before
        (context / "src" / "a.py").write_text("A")
        changed = ctx.content_hash(ctx.resolve("src", at="x"))
        assert changed != before
        os.chmod(context / "src" / "b.py", 0o600)
        assert ctx.content_hash(ctx.resolve("src", at="x")) != changed
        ignored = ctx.content_hash(ctx.resolve(".", at="x"))
        (context / "secret.key").write_text("changed")
        assert ctx.content_hash(ctx.resolve(".", at="x")) == ignored  # (left out: not the build's)


def test_the_content_hash_follows_the_xattrs_copy_keeps(context: Path) -> None:
    with Context(str(context)) as ctx:
        before = ctx.content_hash(ctx.resolve("src", at="x"))
        os.setxattr(context / "src" / "a.py", "user.note", b"one")
        assert ctx.xattrs("src/a.py") == {"user.note": b"one"} and ctx.xattrs("inner") == {}
        noted = ctx.content_hash(ctx.resolve("src", at="x"))
        assert noted != before
        os.setxattr(context / "src" / "a.py", "user.note", b"two")
        assert ctx.content_hash(ctx.resolve("src", at="x")) not in (before, noted)


def test_sources_are_cleaned_as_buildkit_cleans_them() -> None:
    assert [clean_source(p) for p in ("../x", "/a/b/", "./", ".", "a/../../b", "")] == ["x", "a/b", "", "", "b", ""]


def test_a_bad_context_or_ignore_file_is_said(tmp_path: Path) -> None:
    with pytest.raises(ContextError, match="No such file") as caught:
        Context(str(tmp_path / "none"))
    assert caught.value.hint == "give a directory to build from"
    (tmp_path / ".containerignore").write_text("!\n")
    with pytest.raises(ContextError, match="illegal exclusion pattern"):
        Context(str(tmp_path))
    (tmp_path / ".containerignore").unlink()
    os.symlink("/etc/passwd", tmp_path / ".dockerignore")
    with pytest.raises(ContextError, match="the context's .dockerignore") as caught:
        Context(str(tmp_path))
    assert caught.value.hint == "make it a plain file"


def test_the_ignore_file_holds_through_symlinks_and_loops_end(context: Path) -> None:
    os.symlink(".", context / "here")
    (context / "loop").symlink_to("loop")
    with Context(str(context)) as ctx:
        for path in ("here/secret.key", "here/here/secret.key"):
            with pytest.raises(ContextError, match="left out of the context by its ignore file"):
                ctx.resolve(path, at="x")
        assert "secret.key" not in [s.path for s in ctx.resolve("here/*", at="x")]
        with pytest.raises(ContextError, match="too many levels"):
            ctx.resolve("loop", at="x")
        started = __import__("time").monotonic()
        with pytest.raises(ContextError):
            ctx.resolve("*/" * 30 + "zz", at="x")
        assert __import__("time").monotonic() - started < 30


def test_a_fifo_stops_nothing(context: Path) -> None:
    os.mkfifo(context / "pipe")
    with Context(str(context)) as ctx:
        assert ctx.content_hash(ctx.resolve("pipe", at="x")).startswith("sha256:")  # (not read: no file)
        with pytest.raises(ContextError, match="not a regular file"):
            ctx.open_file("pipe")
