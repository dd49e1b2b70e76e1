"""sdc's reading of a Containerfile's words (sdcontainer/build/shell.py) against BuildKit's own
test data (tests/data/buildkit-dockerfile, see its NOTICE): envVarTest (one word, expanded) and
wordsTest (words, split after expansion)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdcontainer.build.shell import MAX_DEPTH, Lexer, ShellError, _reversed_pattern, shell_program

DATA = Path(__file__).resolve().parents[1] / "data" / "buildkit-dockerfile"
ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}


def _env_cases() -> list[tuple[int, str, str]]:
    cases = []
    for number, line in enumerate((DATA / "envVarTest").read_text().splitlines(), 1):
        if line.startswith("#") or not line.strip():
            continue
        platform, source, expected = (part.strip() for part in line.strip().split("|"))
        if platform in ("A", "U"):
            cases.append((number, source, expected))
    return cases


@pytest.mark.parametrize(("number", "source", "expected"), _env_cases(), ids=lambda v: str(v))
def test_a_word_expands_as_buildkits(number: int, source: str, expected: str) -> None:
    lexer = Lexer("\\")
    if expected == "error":
        with pytest.raises(ShellError):
            lexer.word(source, ENV)
    else:
        assert lexer.word(source, ENV) == expected, (number, source)


def _words_cases() -> list[tuple[int, dict[str, str], str, list[str]]]:
    cases, env = [], {}
    for number, line in enumerate((DATA / "wordsTest").read_text().splitlines(), 1):
        if line.startswith("#"):
            continue
        if line.startswith("ENV "):
            key, _, value = line[3:].lstrip(" ").partition("=")
            env = {**env, key: value}
            continue
        source, expected = line.split("|")
        cases.append((number, dict(env), source.strip(), expected.lstrip(" ").split(",")))
    return cases


@pytest.mark.parametrize(("number", "env", "source", "expected"), _words_cases(), ids=lambda v: str(v)[:20])
def test_words_split_as_buildkits(number: int, env: dict[str, str], source: str, expected: list[str]) -> None:
    try:
        words = Lexer("\\").words(source, env)
    except ShellError:
        words = ["error"]
    assert words == expected, (number, source)


def test_a_required_variable_says_its_message() -> None:
    lexer = Lexer()
    assert lexer.word("${VAR:?message here$ARG}", {"VAR": "plain", "ARG": "x"}) == "plain"
    for env in ({"VAR": "", "ARG": "x"}, {"ARG": "x"}):
        with pytest.raises(ShellError, match="message herex"):
            lexer.word("${VAR:?message here$ARG}", env)
    assert lexer.word("${VAR?m}", {"VAR": ""}) == ""
    with pytest.raises(ShellError, match="VAR: m"):
        lexer.word("${VAR?m}", {})


def test_patterns_trim_and_replace() -> None:
    env = {"V": "a.b.c.tar.gz", "P": "/usr/local/bin"}
    lexer = Lexer()
    assert [lexer.word(w, env) for w in ("${V#*.}", "${V##*.}", "${V%.*}", "${V%%.*}")] == \
        ["b.c.tar.gz", "gz", "a.b.c.tar", "a"]  # fmt: skip
    assert lexer.word("${P/\\/usr/x}", env) == "x/local/bin" and lexer.word("${P//\\//:}", env) == ":usr:local:bin"
    assert lexer.word("${V/?/$}", env) == "$.b.c.tar.gz"  # (a replacement is literal: no group references)
    assert lexer.word("${V#(()[]{$.}", {"V": "(()[]{$.rest"}) == "rest"  # (regex characters: literal)
    assert lexer.word("${V#*[]}", {"V": "a[]b"}) == "b"
    for invalid in ("\\", "\\x", "\\\\\\"):
        with pytest.raises(ShellError):
            shell_program(invalid)
    assert _reversed_pattern("a\\*c") == "c\\*a" and _reversed_pattern("ab\\") == "\\ba"


def test_unset_variables_can_be_kept_as_written() -> None:
    lexer = Lexer(skip_unset=True, raw_quotes=True)
    assert lexer.words("a $X ${Y} ${Z:-d} ${W/a/b} '$Q'", {}) == ["a", "$X", "${Y}", "${Z:-d}", "${W/a/b}", "'$Q'"]


def test_the_backtick_escape() -> None:
    lexer = Lexer("`")
    assert lexer.word("C:\\dir`$X", {"X": "1"}) == "C:\\dir$X"
    assert lexer.words('a` b "c`"d"', {}) == ["a b", 'c"d']


@given(st.text(max_size=200), st.dictionaries(st.text("ABC_", min_size=1, max_size=3), st.text(max_size=20)))
def test_any_text_is_expanded_or_refused_in_one_line(text: str, env: dict[str, str]) -> None:
    for lexer in (Lexer(), Lexer("`", raw_quotes=True, raw_escapes=True, skip_unset=True)):
        try:
            lexer.word(text, env)
            lexer.words(text, env)
        except ShellError as exc:
            assert "\n" not in str(exc).split(" in ", 1)[0]


def test_patterns_take_linear_time_and_expansions_are_bounded() -> None:
    import time

    started = time.monotonic()
    value = "a" * 2000
    assert Lexer().word("${V//*a*a*a*a*a*ab/x}", {"V": value}) == value
    assert Lexer().word("${V##*a*a*a*a*a*ab}", {"V": value}) == value
    assert time.monotonic() - started < 10
    with pytest.raises(ShellError, match="one inside another"):
        Lexer().word("${A:-" * (MAX_DEPTH + 1) + "}" * (MAX_DEPTH + 1), {})
    with pytest.raises(ShellError, match="MiB"):
        Lexer().word("$A" * 100, {"A": "x" * 20000})
    assert Lexer().word("${V//a/}", {"V": "banana"}) == "bnn" and Lexer().word("${V/n*/N}", {"V": "banana"}) == "baN"
