"""A stage's variables and config (sdcontainer/build/state.py): Docker's ARG scoping, ENV over
ARG, and what each config-only instruction sets."""

from __future__ import annotations

import pytest

from sdcontainer.build.dockerfile import DockerfileError, parse
from sdcontainer.build.instructions import plan
from sdcontainer.build.state import Scope, expose_ports, from_word, meta_args, parse_duration


def _stage(text: str, build_args: dict[str, str] | None = None, base: dict | None = None) -> Scope:  # type: ignore[type-arg]
    made = plan(parse(text))
    meta, _ = meta_args(made.meta, build_args or {}, {"TARGETARCH": "amd64"})
    scope = Scope.for_stage(base or {"Env": ["PATH=/usr/bin"]}, build_args or {}, meta)
    for instruction in made.target.instructions:
        scope.apply(instruction)
    return scope


def test_arg_scoping() -> None:
    text = ("ARG VERSION=1\nARG TAG\nFROM busybox:$VERSION\nARG VERSION\nARG TARGETARCH\nARG LOCAL=x${VERSION}\n"
            "ARG UNSET\nENV FROM_ENV=$LOCAL-$TARGETARCH-$UNSET\nARG LOCAL=shadowed\nENV LOCAL=env\nARG LOCAL=arg\n")
    scope = _stage(text)
    assert scope.args == {"VERSION": "1", "TARGETARCH": "amd64", "UNSET": None, "LOCAL": "arg"}
    env = scope.env()
    assert env["FROM_ENV"] == "x1-amd64-" and env["LOCAL"] == "env"  # (ENV wins over ARG)
    assert "VERSION" not in (scope.config.get("Env") and "\n".join(scope.config["Env"]))  # (ARGs: not the image's)
    given = _stage(text, {"VERSION": "2", "LOCAL": "cli", "HTTP_PROXY": "http://proxy"})
    assert given.args["VERSION"] == "2" and given.args["LOCAL"] == "cli" and given.used == {"VERSION", "LOCAL"}
    assert given.run_env()["HTTP_PROXY"] == "http://proxy" and given.run_env()["LOCAL"] == "env"


def test_the_escape_directive_makes_a_backslash_plain() -> None:
    """BuildKit's reading (Buildah 1.28 takes the backslash as an escape all the same: C:data)."""
    parsed = parse("# escape=`\nFROM a\nENV DIR=C:\\data `\n    MORE=\"x y\" NEXT=a``b\n")
    scope = Scope.for_stage({}, {}, {}, parsed.escape)
    for instruction in plan(parsed).target.instructions:
        scope.apply(instruction)
    assert scope.env() == {"DIR": "C:\\data", "MORE": "x y", "NEXT": "a`b"}


def test_a_meta_arg_is_for_from_lines_until_declared_again() -> None:
    made = plan(parse("ARG IMAGE=busybox\nARG V=1.36\nFROM $IMAGE:${V}\nRUN echo $IMAGE\n"))
    meta, used = meta_args(made.meta, {"V": "1.37"}, {})
    assert from_word(made.target.base, meta, "x") == "busybox:1.37" and used == {"V"}
    scope = Scope.for_stage({}, {"V": "1.37"}, meta)
    assert scope.env() == {}  # (not declared again in the stage: not in it)


def test_an_arg_made_of_itself_does_not_grow() -> None:
    scope = _stage("FROM a\nARG A=$A$A\nARG A=${A}${A}x\nENV B=$A$A\n")
    assert scope.args["A"] == "x" and scope.env()["B"] == "xx"


def test_env_label_and_friends() -> None:
    text = ("FROM a\nENV A=1 B=\"two words\"\nENV C=$A D=${B:-x}\nENV A=3 E=$A\nLABEL \"org.x\"=\"v $A\" k=v\n"
            "WORKDIR /srv\nWORKDIR app/$A\nUSER ${A}:0\nEXPOSE 80 53/udp 8000-8001\nVOLUME /data [\"/x\"]\n"
            "STOPSIGNAL SIGQUIT\nMAINTAINER me\nSHELL [\"/bin/bash\", \"-c\"]\nCMD echo hi\nONBUILD RUN make\n"
            "HEALTHCHECK --interval=1m30s --retries=2 CMD curl -f localhost\n")  # fmt: skip
    scope = _stage(text)
    c = scope.config
    assert c["Env"] == ["PATH=/usr/bin", "B=two words", "C=1", "D=two words", "A=3", "E=1"]
    assert c["Labels"] == {"org.x": "v 3", "k": "v"}
    assert c["WorkingDir"] == "/srv/app/3" and c["User"] == "3:0"
    assert list(c["ExposedPorts"]) == ["80/tcp", "53/udp", "8000/tcp", "8001/tcp"]
    assert list(c["Volumes"]) == ["/data", "[/x]"] and c["StopSignal"] == "SIGQUIT" and scope.author == "me"
    assert c["Cmd"] == ["/bin/bash", "-c", "echo hi"] and c["OnBuild"] == ["RUN make"]
    assert c["Healthcheck"] == {"Test": ["CMD-SHELL", "curl -f localhost"], "Interval": 90 * 10**9, "Retries": 2}


def test_entrypoint_resets_an_inherited_cmd_only() -> None:
    base = {"Cmd": ["old"], "Entrypoint": ["/old"]}
    assert _stage('FROM a\nENTRYPOINT ["/new"]\n', base=base).config["Cmd"] is None
    kept = _stage('FROM a\nCMD ["mine"]\nENTRYPOINT ["/new"]\n', base=base).config
    assert kept["Cmd"] == ["mine"] and kept["Entrypoint"] == ["/new"]


@pytest.mark.parametrize(("text", "said"), [
    ("FROM a\nARG 1x=2\n", "ARG '1x' is no variable's name"),
    ("FROM a\nENV A=${B\n", "Containerfile:2: "),
    ("FROM a\nSTOPSIGNAL SIGNOPE\n", "STOPSIGNAL 'SIGNOPE' is no signal"),
    ("FROM a\nEXPOSE 80/foo\n", "'foo' is no protocol"),
    ("FROM a\nEXPOSE 0\n", "out of range"),
    ("FROM a\nHEALTHCHECK --interval=soon CMD x\n", "--interval: 'soon' is no duration"),
    ("FROM a\nHEALTHCHECK --retries=many CMD x\n", "--retries: 'many' is no number"),
    ("FROM a\nRUN x\n", "RUN changes files"),
])  # fmt: skip
def test_what_is_wrong_names_its_line(text: str, said: str) -> None:
    with pytest.raises(DockerfileError, match=said.replace("$", "\\$").replace("{", "\\{")) as caught:
        _stage(text)
    assert caught.value.hint


def test_durations_and_ports() -> None:
    assert [parse_duration(t, "x", "f") for t in ("30s", "1m30s", "1.5h", "100ms", "0")] == \
        [30 * 10**9, 90 * 10**9, 5400 * 10**9, 10**8, 0]  # fmt: skip
    assert expose_ports("53/UDP", "x") == ["53/udp"]
