"""Podman's own Quadlet test files (tests/data/podman-quadlet, see its NOTICE) through sdc's generator:
every file becomes a unit or is refused with its line and key named; where one becomes a unit,
the image and command it runs are the ones Podman's test says its podman run gets."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from sdcontainer.errors import SdcError
from sdcontainer.quadlet import generator
from sdcontainer.quadlet.unitfile import split_words

DATA = Path(__file__).resolve().parents[1] / "data" / "podman-quadlet"
FILES = sorted(p for p in DATA.iterdir() if p.is_file() and p.suffix not in ("", ".conf") and p.name != "NOTICE")
FOUND = generator.sources([DATA])


def test_the_copy_is_there() -> None:
    assert len([p for p in FILES if p.suffix == ".container"]) > 100
    assert (DATA / "LICENSE").read_text().lstrip().startswith("Apache License")


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_each_file_is_a_unit_or_refused_by_line_and_key(path: Path) -> None:
    try:
        made = generator.generate(path, [DATA], FOUND)
    except SdcError as exc:
        said = exc.message
        if path.suffix == ".build" and "## assert-failed" in path.read_text():
            wanted = [shlex.split(line)[2] for line in path.read_text().splitlines()
                      if line.startswith("## assert-stderr-contains")]  # fmt: skip
            assert all(w in said for w in wanted), (said, wanted)  # (Podman's words, in sdc's message)
        if path.suffix in generator.LATER:
            assert said == f"{path}: {path.suffix} files are not taken by sdc yet"
        else:
            assert re.match(rf"{re.escape(str(path))}(\.d/[^:]+)?:\d+: \w+=", said) or \
                said.startswith(f"{path}: [Build] has ") or said in (
                f"{path}: [Container] has no Image=", f"{path}: [Image] has no Image="
            ), said
        assert exc.hint, said
        return
    if path.suffix == ".kube":
        _check_kube(path, made.text)
        return
    if path.suffix in (".volume", ".network"):
        _check_resource(path, made)
        return
    if path.suffix == ".pod":
        _check_pod(path, made)
        return
    if path.suffix == ".image":
        _check_image(path, made)
        return
    if path.suffix == ".build":
        _check_build(path, made)
        return
    assert path.suffix == ".container"
    assert made.unit == path.name.removesuffix(".container") + ".service"
    expected = _final_args(path)
    if expected is not None:
        [create] = [line for line in made.text.splitlines() if "_unit-create" in line]
        words = split_words(create.partition("=")[2])
        if path.name in DIFFERENT:
            assert words[-len(expected) :] != expected
        else:
            assert words[-len(expected) :] == expected, (words, expected)  # (Podman's test compares the last ones)


# Where sdc runs another command than Podman's test says, on purpose: the file and why.
DIFFERENT = {
    "exec-unsupported-escape.container": "an escape systemd does not know (\\.) is kept as it is, as systemd keeps "
                                         "it in a command line (it warns); Podman drops the whole Exec=",
}  # fmt: skip


def _final_args(path: Path) -> list[str] | None:
    """What `## assert-podman-final-args` says podman run gets last (image, command), as systemd
    reads it from the unit (C escapes unescaped); None where the file says nothing of it."""
    for line in path.read_text().splitlines():
        if line.startswith("## assert-podman-final-args "):
            words = shlex.split(line.removeprefix("## assert-podman-final-args "))
            if words[:1] == ["run"]:
                return None  # (podman's whole command line: its own flags)
            return [split_words('"' + w.replace('"', '\\"') + '"')[0] for w in words]
    return None


def _check_kube(path: Path, text: str) -> None:
    """A .kube file's unit: kube play --replace of each of its YAML files (the final arguments
    Podman's test expects, each file's path as sdc resolves it), kube down of them after."""
    yaml = [w if w.startswith("/") else str(DATA / w) for line in path.read_text().splitlines()
            if line.startswith("Yaml=") for w in split_words(line.removeprefix("Yaml="))]  # fmt: skip
    starts = [split_words(line.partition("=")[2]) for line in text.splitlines() if line.startswith("ExecStart=")]
    stops = [split_words(line.partition("=-")[2]) for line in text.splitlines() if line.startswith("ExecStopPost=")]
    assert [w[-1] for w in starts] == yaml and sorted(w[-1] for w in stops) == sorted(yaml), (text, yaml)
    assert all(w[w.index("kube"):w.index("kube") + 3] == ["kube", "play", "--replace"] for w in starts)
    assert all(w[-3:-1] == ["kube", "down"] for w in stops)
    for line in path.read_text().splitlines():  # Podman's own expectations of the arguments, where sdc has them
        if line.startswith("## assert-podman-final-args-regex "):
            for pattern, word in zip(line.split()[2:], yaml, strict=True):
                assert re.fullmatch(pattern.replace(".*/podman-e2e-.*/subtest-.*/quadlet/", ".*/"), word)
        if line.startswith("## assert-podman-args --network "):
            assert all(["--network", line.split()[-1]] == w[w.index("play") + 2:w.index("play") + 4] for w in starts)
    assert "Type=oneshot" in text and "RemainAfterExit=yes" in text


def _check_resource(path: Path, made: generator.Generated) -> None:
    """A .volume or .network file's unit: Podman's name for it, `sdc volume create` / `network
    create --ignore` of the name and flags Podman's test expects podman's command to end with or hold."""
    kind = path.suffix[1:]
    stem = path.name.removesuffix(path.suffix)
    prefix, at, instance = stem.partition("@")
    assert made.unit == (f"{prefix}-{kind}@{instance}.service" if at else f"{stem}-{kind}.service")
    [start] = [split_words(line.partition("=")[2]) for line in made.text.splitlines() if line.startswith("ExecStart=")]
    assert start[start.index(kind):start.index(kind) + 2] == [kind, "create"]
    for line in path.read_text().splitlines():
        words = shlex.split(line)[1:] if line.startswith("## ") else []
        if words[:1] == ["assert-podman-final-args"]:
            assert start[-len(words[1:]):] == words[1:], (start, words)
        elif words[:1] == ["assert-podman-args"]:
            assert any(start[i:i + len(words) - 1] == words[1:] for i in range(len(start))), (start, words)
        elif words[:1] == ["assert-last-key-contains"] and words[2] == "ExecStart":
            assert words[3] in " ".join(start) + " ", (start, words)
        elif words[:1] == ["assert-key-is-regex"] and words[2] == "ExecStart":
            assert start[-1] == words[3].split()[-1], (start, words)  # the name: Podman's
        elif words[:1] == ["assert-podman-stop-post-final-args"]:
            [stop] = [split_words(line.partition("=-")[2]) for line in made.text.splitlines()
                      if line.startswith("ExecStopPost=")]  # fmt: skip
            assert stop[-3:] == [kind, "rm", words[1]], stop


POD_FLAGS = ("--name", "--hostname", "--label", "--network", "--publish", "--ip")  # those sdc's pods take


def _check_pod(path: Path, made: generator.Generated) -> None:
    """A .pod file's unit: Podman's name, its `_pod-unit-create` with the arguments Podman's test
    expects podman pod create to get (those sdc's pods take), its [Unit] dependencies as Podman's
    (Requires=/After= a .network's unit; Wants=/Before= the containers that start with it)."""
    assert made.unit == path.name.removesuffix(".pod") + "-pod.service"
    unit = [line.partition("=")[::2] for line in made.text.partition("[Service]")[0].splitlines() if "=" in line]
    [create] = [split_words(line.partition("=")[2]) for line in made.text.splitlines() if "_pod-unit-create" in line]
    assert create[create.index("_pod-unit-create") + 1] == "%n"
    assert "--name" in create
    for line in path.read_text().splitlines():
        words = shlex.split(line)[1:] if line.startswith("## ") else []
        if words[:1] == ["assert-podman-pre-args"] and words[1] in POD_FLAGS:
            assert any(create[i:i + 2] == words[1:] for i in range(len(create))), (create, words)
        elif words[:2] == ["assert-key-is", "Unit"] and words[2] == "Requires":
            assert ("Requires", words[3]) in unit, (unit, words)
        elif words[:2] == ["assert-key-contains", "Unit"]:
            assert (words[2], words[3]) in unit, (unit, words)
        elif words[:2] == ["assert-key-not-contains", "Unit"]:
            assert (words[2], words[3]) not in unit, (unit, words)
    assert "Type=oneshot" in made.text and "RemainAfterExit=yes" in made.text


def _check_image(path: Path, made: generator.Generated) -> None:
    """An .image file's unit: Podman's name, `sdc pull` of the image Podman's test expects podman
    pull to end with, and what its flags say as sdc's (--platform OS/ARCH[/VARIANT], --tls-verify,
    the auth file sdc's pull reads)."""
    assert made.unit == path.name.removesuffix(".image") + "-image.service"
    [start] = [split_words(line.partition("=")[2]) for line in made.text.splitlines() if line.startswith("ExecStart=")
               and " pull " in line]  # fmt: skip
    assert start[start.index("pull"):start.index("pull") + 2] == ["pull", "--quiet"]
    flags = dict(zip(start[start.index("pull") + 2:-1:2], start[start.index("pull") + 3::2], strict=False))
    for line in path.read_text().splitlines():
        words = shlex.split(line)[1:] if line.startswith("## ") else []
        if words[:1] == ["assert-podman-final-args"]:
            assert start[-1] == words[1], (start, words)
        elif words[:2] == ["assert-podman-args", "--tls-verify=false"]:
            assert "--no-tls-verify" in start
        elif words[:2] in (["assert-podman-args", "--arch"], ["assert-podman-args", "--os"]):
            wanted = {"aarch64": "arm64", "x86_64": "amd64"}.get(words[2], words[2])  # (OCI's names)
            assert wanted in flags["--platform"].split("/"), (start, words)
        elif words[:2] == ["assert-podman-args", "--authfile"]:
            assert f"Environment=REGISTRY_AUTH_FILE={words[2]}" in made.text
    assert "Type=oneshot" in made.text and "RemainAfterExit=yes" in made.text


def test_files_podman_refuses_are_refused_or_differ_for_a_reason() -> None:
    """Podman's test files that its generator must refuse (## assert-failed): refused here too,
    but for the one whose dependency Podman finds missing in its test (run alone) and this one
    finds beside it (all the files in one directory)."""
    generated = []
    for path in FILES:
        if path.suffix == ".container" and "## assert-failed" in path.read_text():
            try:
                generator.generate(path, [DATA], FOUND)
                generated.append(path.name)
            except SdcError:
                pass
    assert generated == ["dependent.error.container"]
    with pytest.raises(SdcError, match=r"dependent.error.container:5: After=basic.container: no Quadlet file"):
        generator.generate(DATA / "dependent.error.container", [DATA], {})


def _check_build(path: Path, made: generator.Generated) -> None:
    """A .build file's unit: Podman's name, `sdc build` with the flags Podman's test expects podman
    build to get (--tag, --file, --target, --label, --build-arg, --network, --force-rm), the
    context last, the WorkingDirectory= it expects; no RemainAfterExit=yes (each start builds)."""
    assert made.unit == path.name.removesuffix(".build") + "-build.service"
    assert "## assert-failed" not in path.read_text()
    [start] = [split_words(line.partition("=")[2]) for line in made.text.splitlines() if line.startswith("ExecStart=")]
    args = start[start.index("build") + 1 :]
    pairs = list(zip(args, args[1:], strict=False))
    for line in path.read_text().splitlines():
        words = shlex.split(line)[1:] if line.startswith("## ") else []
        if words[:1] == ["assert-podman-args"] and words[1] in ("--tag", "--file", "--target", "--label",
                                                                  "--build-arg", "--network"):  # fmt: skip
            assert (words[1], words[2]) in pairs, (args, words)
        elif words[:1] == ["assert-podman-args"] and words[1].startswith("--force-rm="):
            assert words[1] in args, (args, words)
        elif words[:1] == ["assert-podman-final-args"] and words[1] != "--file":
            assert args[-1] == words[1], (args, words)
        elif words[:1] == ["assert-podman-final-args"]:
            assert ("--file", words[2]) in pairs, (args, words)
        elif words[:3] == ["assert-key-is", "Service", "WorkingDirectory"]:
            assert f"WorkingDirectory={words[3]}" in made.text, made.text
        elif words[:3] == ["assert-key-is-regex", "Service", "WorkingDirectory"]:
            assert f"WorkingDirectory={DATA}" in made.text, made.text
    assert "Type=oneshot" in made.text and "RemainAfterExit=yes" not in made.text
