"""--detach-keys, parsed as Docker's and found in what is typed across reads (integration:
tests/integration/test_attach.py)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdcontainer.api.attach import DetachKeys, parse_detach_keys
from sdcontainer.errors import UsageError


def test_dockers_keys() -> None:
    assert parse_detach_keys("ctrl-p,ctrl-q") == b"\x10\x11"
    assert parse_detach_keys("ctrl-@,ctrl-[,a") == b"\x00\x1ba"
    assert parse_detach_keys("") == b""
    for bad in ("ctrl-", "ctrl-pp", "alt-x", "ctrl-1", "é", "ab"):
        with pytest.raises(UsageError, match="invalid --detach-keys"):
            parse_detach_keys(bad)


def test_the_keys_are_found_across_reads_and_the_rest_passes() -> None:
    keys = DetachKeys(b"\x10\x11")
    assert keys.feed(b"ls\r") == (b"ls\r", False)
    assert keys.feed(b"a\x10") == (b"a", False)  # held back: maybe the keys
    assert keys.feed(b"x") == (b"\x10x", False)  # not them: passed on
    assert keys.feed(b"\x10\x10") == (b"\x10", False)
    assert keys.feed(b"\x11after") == (b"", True)
    assert DetachKeys(b"").feed(b"\x10\x11") == (b"\x10\x11", False)


@settings(max_examples=200, derandomize=True)
@given(st.lists(st.binary(max_size=8), max_size=8))
def test_what_is_passed_is_what_was_typed_up_to_the_keys(chunks: list[bytes]) -> None:
    keys = DetachKeys(b"\x10\x11")
    passed = b""
    typed = b"".join(chunks)
    for chunk in chunks:
        out, detached = keys.feed(chunk)
        passed += out
        if detached:
            assert typed.startswith(passed) and b"\x10\x11" in typed
            assert passed == typed[: typed.index(b"\x10\x11")]
            return
    assert b"\x10\x11" not in typed
    assert typed.startswith(passed) and len(typed) - len(passed) <= 1  # a last ctrl-p held back
