"""What a build's RUN runs (builder.run_argv), heredocs included, as BuildKit runs them; what a
COPY writes (builder._write_sources): owners, modes, hard links, xattrs, the directories it makes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sdcontainer.build.builder import _ContextReader, _less_stubs, _write_sources, run_argv
from sdcontainer.build.context import Context, Digest
from sdcontainer.build.dockerfile import DockerfileError, parse
from sdcontainer.build.instructions import plan
from sdcontainer.build.state import Scope


def _argv(text: str, shell: list[str] | None = None) -> list[str]:
    made = plan(parse("FROM a\n" + text))
    scope = Scope.for_stage({"Shell": shell} if shell else {}, {}, {})
    return run_argv(scope, made.target.instructions[-1])


def test_the_forms() -> None:
    assert _argv('RUN ["echo", "a b"]\n') == ["echo", "a b"]
    assert _argv("RUN echo $HOME\n") == ["/bin/sh", "-c", "echo $HOME"]
    assert _argv('SHELL ["/bin/bash", "-ec"]\nRUN echo\n', ["/bin/bash", "-ec"]) == ["/bin/bash", "-ec", "echo"]


def test_heredocs() -> None:
    assert _argv("RUN <<EOF\necho one\necho two\nEOF\n") == ["/bin/sh", "-c", "echo one\necho two\n"]
    assert _argv("RUN <<-EOF\n\techo tab\n\tEOF\n") == ["/bin/sh", "-c", "echo tab\n"]
    assert _argv("RUN cat <<EOF > /out\n$HOME\nEOF\n") == ["/bin/sh", "-c", "cat <<EOF > /out\n$HOME\nEOF"]
    assert _argv("RUN <<A sh && <<B sh\none\nA\ntwo\nB\n") == ["/bin/sh", "-c", "<<A sh && <<B sh\none\nA\ntwo\nB"]
    assert _argv("RUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\n") == ["/dev/pipes/EOF"]
    assert _argv("RUN <<-PY\n\t#!/bin/sh\n\techo\n\tPY\n") == ["/dev/pipes/PY"]
    with pytest.raises(DockerfileError, match="makes no file name"):
        _argv("RUN <<'..'\n#!/bin/sh\n..\n")


def test_a_copy_keeps_hard_links_and_xattrs_and_owns_what_it_makes(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("chown needs root")
    ctx, root = tmp_path / "ctx", tmp_path / "root"
    (ctx / "d" / "sub").mkdir(parents=True)
    root.mkdir()
    (ctx / "d" / "f").write_text("f\n")
    os.link(ctx / "d" / "f", ctx / "d" / "sub" / "g")
    os.setxattr(ctx / "d" / "f", "user.note", b"kept")
    os.setxattr(ctx / "d" / "sub", "user.dir", b"kept too")
    with Context(str(ctx)) as context:
        reader = _ContextReader(context)
        sources = reader.resolve("d", "x")
        digest = Digest()
        _write_sources(reader, sources, root, "/a/b", slash=False, owner=(7, 8), mode=None, unpack=False, at="x",
                       digest=digest)  # fmt: skip
        assert digest.hexdigest() == context.content_hash(sources)
    f, g = os.stat(root / "a" / "b" / "f"), os.stat(root / "a" / "b" / "sub" / "g")
    assert (f.st_ino, f.st_nlink, f.st_uid, f.st_gid) == (g.st_ino, 2, 7, 8)
    assert os.getxattr(root / "a" / "b" / "f", "user.note") == b"kept"
    assert os.getxattr(root / "a" / "b" / "sub", "user.dir") == b"kept too"
    assert [(os.stat(root / p).st_uid, os.stat(root / p).st_gid) for p in ("a", "a/b")] == [(7, 8), (7, 8)]


def test_a_run_mount_leaves_no_stub_in_the_layer() -> None:
    changes = [("A", "var"), ("A", "var/cache"), ("A", "var/cache/app"), ("A", "var/log"), ("A", "var/log/x"),
               ("A", "mnt"), ("A", "mnt/t"), ("C", "etc"), ("A", "etc/made"), ("A", "src"), ("A", "src/inside")]
    kept = _less_stubs(changes, ["/var/cache/app", "/mnt/t", "/src"])
    assert kept == [("A", "var"), ("A", "var/log"), ("A", "var/log/x"), ("C", "etc"), ("A", "etc/made")]
    assert _less_stubs(changes, []) == changes
