"""Image references as Docker reads them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdcontainer.errors import UsageError
from sdcontainer.images import reference
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


# Distribution's grammar (regexp.go) as regular expressions, ASCII as Go's are: the hand-written
# checks of reference.py (which spare `sdc run` the re module) must agree with them everywhere.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
GRAMMAR = {
    "path": re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*", re.ASCII),
    "domain": re.compile(r"(?:localhost|\[[0-9a-fA-F:]+\]|(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)"
                         r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*)(?::[0-9]{1,5})?", re.ASCII),
    "tag": re.compile(r"\w[\w.-]{0,127}", re.ASCII),
}
CHECKS = {"path": reference.is_path, "domain": reference.is_domain, "tag": reference.is_tag}
near = st.text(alphabet=st.sampled_from("ab09AZ._-_/:[]\n é٣ſK"), max_size=20)


@settings(max_examples=3000, deadline=None)
@given(near, st.sampled_from(sorted(CHECKS)))
def test_each_check_is_its_grammar_rule(text: str, rule: str) -> None:
    assert CHECKS[rule](text) == bool(GRAMMAR[rule].fullmatch(text)), (rule, text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("0123456789abcdefABg:\n"), max_size=70), st.integers(0, 70),
       st.integers(0, 70))  # fmt: skip
def test_hex_is_its_grammar_rule(text: str, least: int, extra: int) -> None:
    most = least + extra
    assert reference.is_hex(text, least, most) == bool(re.fullmatch(f"[0-9a-f]{{{least},{most}}}", text))


def test_the_edges_of_each_rule() -> None:
    assert [reference.is_tag(t) for t in ("a" * 128, "a" * 129, "_x", ".x", "x.", "é")] == [True, False, True, False,
                                                                                            True, False]  # fmt: skip
    assert [reference.is_domain(d) for d in ("[::1]:5000", "[::1]", "[]", "a:123456", "a:", "-a", "a-.b", "a:5")] == [
        True, True, False, False, False, False, False, True]  # fmt: skip
    assert [reference.is_path(p) for p in ("a--b", "a___b", "a__b", "a._b", "a/", "/a", "a//b")] == [
        True, False, True, False, False, False, False]  # fmt: skip


def test_a_stored_name_with_a_unicode_tag_is_still_shown_and_removed(tmp_path: Path) -> None:
    """sdc took \\w's Unicode in tags before the grammar was checked by hand (ASCII, as Go's): a
    store holding such a name lists it as it is, and untags it."""
    from sdcontainer import images
    from sdcontainer.paths import Paths

    paths = Paths(tmp_path)
    images.write_repositories(paths, {"docker.io/library/a:ä": images.Digest.from_hex("a" * 64),
                                      "docker.io/library/b:1": images.Digest.from_hex("b" * 64)})  # fmt: skip
    assert images.familiar("docker.io/library/a:ä") == ("docker.io/library/a", "ä")
    images.untag_image(paths, "docker.io/library/a:ä")
    assert list(images.read_repositories(paths)) == ["docker.io/library/b:1"]
