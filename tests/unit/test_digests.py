"""Digests parsed once where they come in (digests.py): the only form that names a file of the store."""

from __future__ import annotations

import hashlib
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdcontainer.digests import Digest, InvalidDigest, parse_list
from sdcontainer.storage.driver import Driver

HEX = "0123456789abcdef"
GOOD = "sha256:" + "ab" * 32


def test_a_digest_and_its_parts() -> None:
    digest = Digest.parse(GOOD)
    assert (digest.algorithm, digest.hex, str(digest), digest.short) == ("sha256", "ab" * 32, GOOD, "abababababab")
    assert Digest.from_hex("ab" * 32) == digest and Digest.of(b"x") == Digest.parse(
        "sha256:" + hashlib.sha256(b"x").hexdigest()
    )
    assert Digest.of(b"x").matches(b"x") and not Digest.of(b"x").matches(b"y")


@pytest.mark.parametrize(
    "text",
    ["", "sha256:", "/tmp/victim", "../../etc", "sha256:../../etc", GOOD.upper(), GOOD[:-1], GOOD + "a",
     "sha512:" + "a" * 128, "md5:" + "a" * 32, GOOD[:-1] + "\0", GOOD + "\n", " " + GOOD, "sha256:" + "g" * 64,
     "sha256-" + "a" * 64, "sha256:sha256:" + "a" * 56, None, 42, ["sha256:..."], {"digest": GOOD}],
)  # fmt: skip
def test_what_is_not_a_digest_is_refused_with_what_it_was(text: object) -> None:
    with pytest.raises(InvalidDigest, match="the config's diff ID 2 is not a digest"):
        Digest.parse(text, what="the config's diff ID 2")


def test_a_list_is_refused_whole_for_one_bad_entry() -> None:
    assert parse_list([GOOD, GOOD], what="x") == (Digest.parse(GOOD),) * 2
    with pytest.raises(InvalidDigest, match="diff ID 2 is not a digest"):
        parse_list([GOOD, "/etc"], what="diff ID")
    with pytest.raises(InvalidDigest, match="not a list"):
        parse_list(GOOD, what="diff IDs")


@given(st.text(max_size=80) | st.binary(max_size=80).map(lambda b: b.decode("latin-1")))
def test_any_text_parses_only_to_a_digest_of_lowercase_hex(text: str) -> None:
    """Whatever comes in: a Digest of sha256 and 64 lowercase hex digits, or InvalidDigest."""
    try:
        digest = Digest.parse(text)
    except InvalidDigest as exc:
        assert "\n" not in str(exc)  # one line, whatever the input held
        return
    assert text == str(digest) and digest.algorithm == "sha256" and len(digest.hex) == 64
    assert set(digest.hex) <= set(HEX)


@given(st.text(alphabet=string.hexdigits + "/.:-\0 ", min_size=60, max_size=72))
def test_near_misses_never_parse(text: str) -> None:
    candidate = "sha256:" + text
    valid = len(text) == 64 and set(text) <= set(HEX)
    try:
        Digest.parse(candidate)
    except InvalidDigest:
        assert not valid
    else:
        assert valid


@given(st.binary(max_size=200))
def test_a_digest_names_a_layer_directory_of_its_own_and_nothing_else(data: bytes) -> None:
    """layer_path's names are one path component, read back as the same layer (Driver.layer_of)."""
    digest = Digest.of(data)
    for init in (False, True):
        name = f"{digest.algorithm}-{digest.hex}{'-init' if init else ''}"
        assert "/" not in name and name not in (".", "..")
        assert Driver.layer_of(name) == (None if init else digest)


@pytest.mark.parametrize("name", ["..", ".", "sha256-..", "sha256-" + "A" * 64, "x", "sha256-" + "a" * 64 + "-init"])
def test_a_directory_the_store_did_not_name_is_no_layer(name: str) -> None:
    assert Driver.layer_of(name) is None
