"""jsonscan.loads reads what json.loads reads, and refuses what it refuses (with ValueError alone):
records and the launcher's config read without the json package (issue 26)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdcontainer import jsonscan

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def same(text: str) -> None:
    try:
        expected = json.dumps(json.loads(text))  # (through dumps: NaN equals itself there)
    except ValueError:
        with pytest.raises(ValueError):
            jsonscan.loads(text)
        return
    assert json.dumps(jsonscan.loads(text)) == expected


@settings(max_examples=300, deadline=None)
@given(values, st.sampled_from(["", " ", "\n", " \t\r\n"]), st.booleans())
def test_what_json_writes_reads_back_as_json_reads_it(value: object, space: str, indent: bool) -> None:
    same(space + json.dumps(value, indent=2 if indent else None) + space)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from('{}[]",:0123456789.eE+-truefalsnNaIfiy \t\n\r\\u\x0b\ufeffé'), max_size=30))
def test_any_text_is_read_or_refused_as_json_would(text: str) -> None:
    same(text)


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a": -Infinity}'])
def test_constants_are_refused_where_asked(text: str) -> None:
    jsonscan.loads(text)
    with pytest.raises(ValueError):
        jsonscan.loads(text, constants=False)


written = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.lists(inner, max_size=3).map(tuple)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    | st.dictionaries(st.integers() | st.floats(allow_nan=False) | st.booleans() | st.none(), inner, max_size=3),
    max_leaves=20,
)


@settings(max_examples=500, deadline=None)
@given(written)
def test_dumps_writes_what_json_writes_for_records(value: object) -> None:
    """Byte for byte json.dumps(indent=2, sort_keys=True), the records' form: the same files
    as before, without the json package on the run path."""
    try:
        expected: str | type[Exception] = json.dumps(value, indent=2, sort_keys=True)
    except TypeError:  # keys of more than one kind do not sort
        expected = TypeError
    if expected is TypeError:
        with pytest.raises(TypeError):
            jsonscan.dumps(value)
    else:
        assert jsonscan.dumps(value) == expected


def test_dumps_refuses_what_json_cannot_write() -> None:
    for value in ({1, 2}, b"x", {(1, 2): 3}, object()):
        with pytest.raises(TypeError):
            json.dumps(value)
        with pytest.raises(TypeError):
            jsonscan.dumps(value)
