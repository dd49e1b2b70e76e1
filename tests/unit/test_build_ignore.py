""".containerignore/.dockerignore patterns (sdcontainer/build/ignore.py), with the cases moby's
patternmatcher (Docker's and BuildKit's) is tested with: the same file left out or not."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdcontainer.build.ignore import Ignore, IgnoreError, clean, read_patterns

CASES = [
    ("**", "file", True), ("**", "file/", True), ("**/", "file", True), ("**/", "file/", True), ("**", "/", True),
    ("**/", "/", True), ("**", "dir/file", True), ("**/", "dir/file", True), ("**", "dir/file/", True),
    ("**/", "dir/file/", True), ("**/**", "dir/file", True), ("**/**", "dir/file/", True), ("dir/**", "dir/file", True),
    ("dir/**", "dir/file/", True), ("dir/**", "dir/dir2/file", True), ("dir/**", "dir/dir2/file/", True),
    ("**/dir", "dir", True), ("**/dir", "dir/file", True), ("**/dir2/*", "dir/dir2/file", True),
    ("**/dir2/*", "dir/dir2/file/", True), ("**/dir2/**", "dir/dir2/dir3/file", True),
    ("**/dir2/**", "dir/dir2/dir3/file/", True), ("**file", "file", True), ("**file", "dir/file", True),
    ("**/file", "dir/file", True), ("**file", "dir/dir/file", True), ("**/file", "dir/dir/file", True),
    ("**/file*", "dir/dir/file", True), ("**/file*", "dir/dir/file.txt", True),
    ("**/file*txt", "dir/dir/file.txt", True),
    ("**/file*.txt", "dir/dir/file.txt", True), ("**/file*.txt*", "dir/dir/file.txt", True),
    ("**/**/*.txt", "dir/dir/file.txt", True), ("**/**/*.txt2", "dir/dir/file.txt", False),
    ("**/*.txt", "file.txt", True), ("**/**/*.txt", "file.txt", True), ("a**/*.txt", "a/file.txt", True),
    ("a**/*.txt", "a/dir/file.txt", True), ("a**/*.txt", "a/dir/dir/file.txt", True),
    ("a/*.txt", "a/dir/file.txt", False),
    ("a/*.txt", "a/file.txt", True), ("a/*.txt**", "a/file.txt", True), ("a[b-d]e", "ae", False),
    ("a[b-d]e", "ace", True), ("a[b-d]e", "aae", False), ("a[^b-d]e", "aze", True), (".*", ".foo", True),
    (".*", "foo", False), ("abc.def", "abcdef", False), ("abc.def", "abc.def", True), ("abc.def", "abcZdef", False),
    ("abc?def", "abcZdef", True), ("abc?def", "abcdef", False), ("a\\\\", "a\\", True), ("**/foo/bar", "foo/bar", True),
    ("**/foo/bar", "dir/foo/bar", True), ("**/foo/bar", "dir/dir2/foo/bar", True), ("abc/**", "abc", False),
    ("abc/**", "abc/def", True), ("abc/**", "abc/def/ghi", True), ("**/.foo", ".foo", True),
    ("**/.foo", "bar.foo", False),
    ("a(b)c/def", "a(b)c/def", True), ("a(b)c/def", "a(b)c/xyz", False), ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True), ("a\\*b", "a*b", True),
]  # fmt: skip
MANY = [
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
    (["docs", "config"], "docs/README.md", True), (["*.md", "!README.md"], "README.md", False),
    (["*.md", "!README.md"], "CHANGES.md", True), (["!README.md", "*.md"], "README.md", True),
]  # fmt: skip


@pytest.mark.parametrize(("pattern", "path", "left_out"), CASES)
def test_one_pattern(pattern: str, path: str, left_out: bool) -> None:
    assert Ignore([pattern]).ignored(path) is left_out


@pytest.mark.parametrize(("patterns", "path", "left_out"), MANY)
def test_patterns_and_exceptions(patterns: list[str], path: str, left_out: bool) -> None:
    assert Ignore(patterns).ignored(path) is left_out


def test_an_ignore_files_lines() -> None:
    text = "\ufeff# comment\n  docs  \n\n/abs/../path\n! keep/me \n#!not-an-exception\nx/./y//z\n"
    assert read_patterns(text) == ["docs", "path", "!keep/me", "x/y/z"]
    assert clean("") == "." and clean("//a//b/") == "/a/b" and clean("a/../..") == ".."


@pytest.mark.parametrize("pattern", ["!", "a[", "a\\", "[^"])
def test_malformed_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(IgnoreError):
        Ignore([pattern])


@given(st.lists(st.text(alphabet="ab*?[]^!\\/.-", max_size=8), max_size=4), st.text(alphabet="ab/.", max_size=12))
def test_any_patterns_match_or_are_refused(patterns: list[str], path: str) -> None:
    try:
        matcher = Ignore(patterns)
    except IgnoreError:
        return
    assert matcher.ignored(path) in (True, False)
