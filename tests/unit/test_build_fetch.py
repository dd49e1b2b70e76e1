"""ADD URL's names (build/fetch.py): what a URL names is a file name, or an error; never a path."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdcontainer.build.dockerfile import DockerfileError
from sdcontainer.build.fetch import is_url, name_of


def test_names_as_docker_gives_them() -> None:
    assert name_of("https://example.org/a/b/tool.tar.gz?x=1#f", "x") == "tool.tar.gz"
    assert is_url("HTTPS://x/y") and not is_url("ftp://x/y") and not is_url("x/y")
    for bad in ("http://example.org/", "http://example.org", "http://example.org/a/..", "http://x/%2e%2e",
                "http://example.org/%2e%2e%2fetc%2fpasswd"):
        with pytest.raises(DockerfileError, match="names no file"):
            name_of(bad, "Containerfile:2")


@given(st.text(max_size=200))
def test_a_name_is_never_a_path(tail: str) -> None:
    try:
        name = name_of("http://example.org/" + tail, "x")
    except DockerfileError:
        return
    assert name and "/" not in name and "\0" not in name and name not in (".", "..")
