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
