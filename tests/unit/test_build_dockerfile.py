"""sdc's Containerfile parser (sdcontainer/build/dockerfile.py) against BuildKit's own test files
(tests/data/buildkit-dockerfile, see its NOTICE): each parses to the tree BuildKit's parser
gives (its `result`, in BuildKit's format), the negative ones are refused; then the edge cases
of heredocs, directives and continuation lines, and any text parsed or refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdcontainer.build.dockerfile import MAX_INSTRUCTIONS, DockerfileError, Heredoc, dump, go_quote, parse

DATA = Path(__file__).resolve().parents[1] / "data" / "buildkit-dockerfile"
CASES = sorted(p.name for p in (DATA / "testfiles").iterdir())
NEGATIVE = sorted(p.name for p in (DATA / "testfiles-negative").iterdir())


def test_the_copy_is_there() -> None:
    assert len(CASES) > 30 and (DATA / "LICENSE").read_text().lstrip().startswith("Apache License")


@pytest.mark.parametrize("case", CASES)
def test_each_file_parses_as_buildkits(case: str) -> None:
    parsed = parse((DATA / "testfiles" / case / "Dockerfile").read_bytes())
    expected = (DATA / "testfiles" / case / "result").read_text()
    assert "".join(f"({dump(node)})\n" for node in parsed.nodes) == expected


@pytest.mark.parametrize("case", NEGATIVE)
def test_each_refused_file_is_refused(case: str) -> None:
    with pytest.raises(DockerfileError) as caught:
        parse((DATA / "testfiles-negative" / case / "Dockerfile").read_bytes())
    assert caught.value.hint and "\n" not in caught.value.message


def test_instructions_know_their_lines() -> None:
    parsed = parse((DATA / "testfile-line" / "Dockerfile").read_bytes())
    assert [(n.start, n.end) for n in parsed.nodes] == [(5, 5), (11, 12), (17, 31)]


def test_empty_continuation_lines_are_warned_of() -> None:
    parsed = parse("\nFROM alpine:3.6\n\nRUN valid \\\n    continuation\n\nRUN something \\\n\n    following \\\n\n"
                   "    more\n\nRUN another \\\n\n    thing\n\nRUN non-indented \\\n# this is a comment\n"
                   "   after-comment\n\nRUN indented \\\n    # this is an indented comment\n    comment\n\t")
    assert len(parsed.warnings) == 2
    assert "RUN something     following     more" in parsed.warnings[0]
    assert "RUN another     thing" in parsed.warnings[1]
    assert [n.values for n in parsed.nodes[-2:]] == [("non-indented    after-comment",), ("indented     comment",)]


def test_directives_count_before_anything_else() -> None:
    parsed = parse("# syntax=docker/dockerfile:1\n#escape=`\nFROM a\nRUN echo \\\nCOPY `\n  x y\n")
    assert parsed.escape == "`" and parsed.directives == {"syntax": "docker/dockerfile:1", "escape": "`"}
    assert [dump(n) for n in parsed.nodes] == ['from "a"', 'run "echo \\\\"', 'copy "x" "y"']
    late = parse("FROM a\n# escape=`\nRUN b \\\n c\n")
    assert late.escape == "\\" and late.nodes[1].values == ("b  c",)
    with pytest.raises(DockerfileError, match="Containerfile:2: only one escape parser directive"):
        parse("# escape=`\n# escape=\\\nFROM a\n")
    with pytest.raises(DockerfileError, match="invalid escape token"):
        parse("# escape=x\nFROM a\n")


def test_heredocs() -> None:
    text = ("FROM busybox\nRUN <<EOF\necho hello\nEOF\nCOPY <<-'END' 3<<\"TWO\" /dest\n\tone $X\n\tEND\ntwo\nTWO\n"
            "RUN python3 <<EOF > /out\nprint('a')\nEOF\nRUN [\"sh\", \"<<EOF\"]\nONBUILD RUN <<X\nin onbuild\nX\n"
            "RUN 3<<EOF cat <&3\nfd\nEOF\n")  # fmt: skip
    nodes = parse(text).nodes
    assert nodes[1].heredocs == (Heredoc("EOF", "echo hello\n", True, False),)
    assert nodes[2].heredocs == (Heredoc("END", "\tone $X\n", False, True), Heredoc("TWO", "two\n", False, False, 3))
    assert nodes[2].values == ("<<-'END'", '3<<"TWO"', "/dest")
    assert nodes[3].heredocs[0].content == "print('a')\n" and nodes[3].values == ("python3 <<EOF > /out",)
    assert nodes[4].json and nodes[4].heredocs == ()
    assert nodes[5].sub is not None and nodes[5].sub.heredocs[0].content == "in onbuild\n"
    assert nodes[6].heredocs[0].fd == 3 and nodes[6].start == 17 and nodes[6].end == 19
    with pytest.raises(DockerfileError, match="Containerfile:2: unterminated heredoc 'EOF'"):
        parse("FROM a\nRUN <<EOF\nnever ends\n")


def test_flags_and_forms() -> None:
    nodes = parse("FROM --platform=$P a AS b\nCOPY --from=b --chown='1:1' x \"y z\"\nRUN --mount=type=cache,"
                  "target=/c -- echo\nENV A=1 B=\"2 3\" C=\nENV OLD value with spaces\nLABEL \"k\"=v\n"
                  "ARG X Y=1\nHEALTHCHECK --interval=5s CMD [\"true\"]\nHEALTHCHECK NONE\nCMD []\n"
                  "SHELL [\"/bin/bash\", \"-c\"]\nEXPOSE 80/tcp 53/udp\n").nodes  # fmt: skip
    assert nodes[0].flags == ("--platform=$P",) and nodes[0].values == ("a", "AS", "b")
    assert nodes[1].flags == ("--from=b", "--chown=1:1") and nodes[1].values == ("x", '"y', 'z"')
    assert nodes[2].flags == ("--mount=type=cache,target=/c",) and nodes[2].values == ("echo",)
    assert nodes[3].values == ("A", "1", "=", "B", '"2 3"', "=", "C", "", "=")
    assert nodes[4].values == ("OLD", "value with spaces", "")
    assert nodes[5].values == ('"k"', "v", "=") and nodes[6].values == ("X", "Y=1")
    assert nodes[7].values == ("CMD", "true") and nodes[7].json and nodes[8].values == ("NONE",)
    assert nodes[9].values == () and nodes[9].json and nodes[10].values == ("/bin/bash", "-c")
    assert nodes[11].values == ("80/tcp", "53/udp")


@pytest.mark.parametrize(("text", "said"), [
    ("", "a file with no instructions"),
    ("# only\n\n", "a file with no instructions"),
    ("FROM a\nENV A\n", "Containerfile:2: ENV must have two arguments"),
    ("FROM a\nENV A=1 B\n", "Containerfile:2: syntax error - can't find = in 'B'"),
    ('FROM a\nCMD ["a", 1]\n', "Containerfile:2: when using JSON array syntax, arrays must be comprised of strings"),
    ("FROM a\n" + "RUN x\n" * MAX_INSTRUCTIONS, f"more than {MAX_INSTRUCTIONS} instructions"),
    ("FROM " + "a" * 70000 + "\n", "Containerfile:1: a line longer than 65535"),
])  # fmt: skip
def test_what_is_refused_names_its_line(text: str, said: str) -> None:
    with pytest.raises(DockerfileError, match=said.replace("[", "\\[")) as caught:
        parse(text)
    assert caught.value.hint


def test_bytes_not_utf8_are_refused_and_a_bom_is_dropped() -> None:
    with pytest.raises(DockerfileError, match="not UTF-8"):
        parse(b"FROM a\nRUN \xff\n")
    assert dump(parse("\ufeffFROM a\n").nodes[0]) == 'from "a"'


def test_go_quote() -> None:
    assert go_quote('a"b\\c\n\t\x00\x7f é\u00a0\U0001f600') == '"a\\"b\\\\c\\n\\t\\x00\\x7f é\\u00a0\U0001f600"'


@settings(max_examples=300)
@given(st.text(alphabet=st.sampled_from(list("FROMRUNCOPYENVenv \\`#<>-=\"'[]{}$:\n\t\r,ab1")), max_size=300))
def test_any_text_parses_or_is_refused_in_one_line(text: str) -> None:
    try:
        parsed = parse(text)
    except DockerfileError as exc:
        assert "\n" not in exc.message and exc.hint
        return
    assert all(0 < n.start <= n.end for n in parsed.nodes)
