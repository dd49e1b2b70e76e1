"""A Containerfile's stages and instructions checked before anything is built
(sdcontainer/build/instructions.py): flags, forms, stage names, --target and the stages it needs."""

from __future__ import annotations

import pytest

from sdcontainer.build.dockerfile import DockerfileError, parse
from sdcontainer.build.instructions import plan

MULTI = """\
ARG BASE=busybox
FROM $BASE AS build
RUN --mount=type=cache,target=/root/.cache --network=none make
FROM build AS test
RUN make test
FROM busybox AS other
FROM scratch AS runtime
COPY --from=build --chown=1:1 --chmod=0755 /out /app
RUN --mount=type=bind,from=other,source=/x,target=/y true
FROM runtime
"""


def test_stages_and_what_a_target_needs() -> None:
    made = plan(parse(MULTI))
    assert [s.name for s in made.stages] == ["build", "test", "other", "runtime", ""]
    assert [i.keyword for i in made.meta] == ["arg"] and made.stages[0].base == "$BASE"
    assert made.target.index == 4 and made.needed == (0, 2, 3, 4)
    assert plan(parse(MULTI), target="TEST").needed == (0, 1)
    copy = made.stages[3].instructions[0]
    assert copy.flags == {"from": "build", "chown": "1:1", "chmod": "0755"} and copy.values == ("/out", "/app")
    run = made.stages[0].instructions[0]
    assert run.flags == {"mount": ("type=cache,target=/root/.cache",), "network": "none"} and run.values == ("make",)
    with pytest.raises(DockerfileError, match="no stage named 'nope'") as caught:
        plan(parse(MULTI), target="nope")
    assert "build, test, other, runtime" in (caught.value.hint or "")


@pytest.mark.parametrize(("text", "said"), [
    ("RUN x\n", "Containerfile:1: RUN before any FROM"),
    ("ARG A\n", "no FROM"),
    ("FROM a\nFOO bar\n", "Containerfile:2: unknown instruction: FOO"),
    ("FROM a\nCOPY --link a b\n", "Containerfile:2: COPY --link is not taken by sdc"),
    ("FROM a\nCOPY --nope a b\n", "Containerfile:2: unknown flag: --nope"),
    ("FROM a\nCOPY --from=a --from=b a b\n", "duplicate flag specified: --from"),
    ("FROM a\nCOPY --from a b\n", "missing a value on flag: --from"),
    ("FROM a\nRUN --network=bridge x\n", "RUN --network=bridge: not one of"),
    ("FROM a\nRUN --mount=type=secret,id=x,target=/s x\n", "RUN --mount=type=secret is not taken"),
    ("FROM a\nRUN --mount=type=cache x\n", "RUN --mount needs a target"),
    ("FROM a\nRUN --mount=type=cache,target=/c,bogus=1 x\n", "unknown field 'bogus'"),
    ("FROM a\nRUN --security=insecure x\n", "RUN --security is not taken"),
    ("FROM a\nCOPY onlyone\n", "COPY requires at least two arguments"),
    ("FROM a\nSHELL /bin/sh -c\n", "SHELL requires the arguments to be in JSON form"),
    ("FROM a\nHEALTHCHECK --interval=1s NONE\n", "HEALTHCHECK NONE takes no arguments or flags"),
    ("FROM a\nHEALTHCHECK SOMETIMES x\n", "HEALTHCHECK takes CMD or NONE"),
    ("FROM a\nONBUILD FROM b\n", "FROM isn't allowed as an ONBUILD trigger"),
    ("FROM a\nONBUILD COPY --link a b\n", "Containerfile:2: COPY --link is not taken"),
    ("FROM a AS 1x\n", "invalid name for build stage"),
    ("FROM a AS x\nFROM b AS X\n", "duplicate name 'x'"),
    ("FROM a b\n", "FROM takes an image and an optional AS name"),
    ("FROM --platform linux/amd64 a\n", "missing a value on flag: --platform"),
])  # fmt: skip
def test_what_a_build_cannot_do_is_said_before_it_starts(text: str, said: str) -> None:
    with pytest.raises(DockerfileError, match=said.replace("(", "\\(")) as caught:
        plan(parse(text))
    assert caught.value.hint and "\n" not in caught.value.message


def test_heredoc_copy_takes_one_source_word() -> None:
    made = plan(parse("FROM a\nCOPY <<EOF /etc/motd\nhello\nEOF\n"))
    copy = made.target.instructions[0]
    assert copy.values == ("<<EOF", "/etc/motd") and copy.heredocs[0].content == "hello\n"
