"""Image references as Docker reads them."""

from __future__ import annotations

import pytest

from sdcontainer.errors import UsageError
from sdcontainer.images.reference import parse


@pytest.mark.parametrize(
    ("text", "full", "familiar"),
    [
        ("alpine", "docker.io/library/alpine:latest", "alpine:latest"),
        ("alpine:3.20", "docker.io/library/alpine:3.20", "alpine:3.20"),
        ("me/app", "docker.io/me/app:latest", "me/app:latest"),
        ("docker.io/library/alpine:3", "docker.io/library/alpine:3", "alpine:3"),
        ("127.0.0.1:5000/team/app:1.0", "127.0.0.1:5000/team/app:1.0", "127.0.0.1:5000/team/app:1.0"),
        ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
        ("quay.io/org/tool", "quay.io/org/tool:latest", "quay.io/org/tool:latest"),
        ("reg.example:443/a/b/c:v", "reg.example:443/a/b/c:v", "reg.example:443/a/b/c:v"),
        ("app@sha256:" + "a" * 64, "docker.io/library/app@sha256:" + "a" * 64, "app@sha256:" + "a" * 64),
        ("a.b/c:t@sha256:" + "0" * 64, "a.b/c:t@sha256:" + "0" * 64, "a.b/c:t@sha256:" + "0" * 64),
        ("my_app--x.y__z", "docker.io/library/my_app--x.y__z:latest", "my_app--x.y__z:latest"),
    ],
)
def test_references_read_and_normalize_as_dockers(text: str, full: str, familiar: str) -> None:
    ref = parse(text)
    assert (str(ref), ref.familiar) == (full, familiar)


@pytest.mark.parametrize(
    "text",
    ["", "Bad:Name!", "UPPER", "a//b", "a/", "/a", "a:", "a:-tag", "app@sha256:abc", "a@md5:" + "0" * 32,
     "host:port/x", "a" * 300, "-a", "a..b", "a:" + "t" * 129],
)  # fmt: skip
def test_what_is_no_reference(text: str) -> None:
    with pytest.raises(UsageError, match="invalid image reference"):
        parse(text)
