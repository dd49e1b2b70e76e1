"""What a build's RUN runs (builder.run_argv), heredocs included, as BuildKit runs them."""

from __future__ import annotations

import pytest

from sdcontainer.build.builder import run_argv
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
    with pytest.raises(DockerfileError, match="its own interpreter"):
        _argv("RUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\n")
