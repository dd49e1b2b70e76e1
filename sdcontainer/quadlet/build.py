"""Quadlet's .build files (podman-systemd.unit(5), [Build]): a oneshot service that builds an image.

app.build becomes app-build.service (Podman's name), which runs `sdc build` with a --tag for each
ImageTag= and, as Podman's, does not stay active: each start builds again (from the cache, where
nothing changed). A .container file's Image=app.build runs the first ImageTag=, and its unit
Requires= and is After= app-build.service. SetWorkingDirectory= is the build's context and the
unit's WorkingDirectory= (unit: the .build file's directory; file: File='s; or a path), and a
relative File= is read from it. Every [Build] key of Podman's is taken or refused by file, line
and key.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sdcontainer.quadlet.container import QuadletError, _global_args, parse_bool, refuse, unquoted
from sdcontainer.quadlet.unitfile import Setting, split_words

REFUSED = {
    "Annotation": "sdc's images carry labels, not annotations: give Label=",
    "Arch": "sdc builds for this host's platform alone",
    "OS": "sdc builds for this host's platform alone",
    "Variant": "sdc builds for this host's platform alone",
    "ContainersConfModule": "sdc reads no containers.conf",
    "DNS": "a build's RUN steps have the host's or the default network's resolver",
    "DNSOption": "a build's RUN steps have the host's or the default network's resolver",
    "DNSSearch": "a build's RUN steps have the host's or the default network's resolver",
    "Environment": "give the values as BuildArg= to ARGs of the Containerfile",
    "GroupAdd": "a build's RUN steps run as the Containerfile's USER says",
    "IgnoreFile": "sdc reads the context's .containerignore or .dockerignore",
    "PodmanArgs": "sdc takes no options but those of keys",
    "Retry": "sdc's pulls retry as they always do",
    "RetryDelay": "sdc's pulls retry as they always do",
    "Secret": "sdc's build takes no secrets yet (RUN --mount=type=secret)",
    "ServiceName": "the unit is named after the file",
    "TLSVerify": "sdc's build pulls as `sdc pull` does, the registry's TLS checked",
    "Volume": "a build's RUN steps mount what RUN --mount says",
}
PULL = {"always": ["--pull"], "true": ["--pull"], "newer": ["--pull"], "missing": [], "false": [], "never": []}


@dataclass(frozen=True)
class BuildUnit:
    tags: tuple[str, ...]  # ImageTag=: the first is the name its containers use
    context: str  # the build's context directory (absolute, or relative to working_directory), or ""
    working_directory: str  # the unit's WorkingDirectory=
    arguments: tuple[str, ...]  # `sdc build`'s options, -f and the tags included
    auth_file: str = ""
    global_args: tuple[str, ...] = ()


def image_name(settings: Sequence[Setting]) -> str:
    """The image a .build file's containers run: its first ImageTag=."""
    tags = [unquoted(s).value for s in settings if s.section == "Build" and s.key == "ImageTag"]
    return tags[0] if tags else ""


def read_build(settings: Sequence[Setting], *, path: str, ours: Callable[[str], str] = str) -> BuildUnit:
    """The [Build] section's settings; ours: the generator's escaping of a path of its own (the
    .build file's directory), with nothing in it for systemd to expand."""
    single: dict[str, Setting] = {}
    tags: list[str] = []
    arguments: list[str] = []
    global_args: list[str] = []
    for s in (s for s in settings if s.section == "Build"):
        if s.key == "ImageTag":
            tags.append(_reference(unquoted(s)))
        elif s.key in ("File", "SetWorkingDirectory", "Target", "Pull", "ForceRM", "Network", "AuthFile"):
            single[s.key] = unquoted(s)
        elif s.key in ("Label", "BuildArg"):
            words = split_words(s.value, where=f"{s.where()}: {s.key}=")
            if any("=" not in w or w.startswith("=") for w in words):
                raise refuse(s, "takes KEY=VALUE words", f"write {s.key}=KEY=VALUE")
            arguments += [w for word in words for w in ("--label" if s.key == "Label" else "--build-arg", word)]
        elif s.key == "GlobalArgs":
            global_args += _global_args(s)
        elif s.key in REFUSED:
            raise refuse(s, f"is not taken: {REFUSED[s.key]}", "remove it")
        else:
            raise refuse(s, "is not a key of [Build]", "see podman-systemd.unit(5) and sdc's README for the keys")
    if not tags:
        raise QuadletError(f"{path}: [Build] has no ImageTag= (no ImageTag key specified)",
                           hint="name the image it builds: ImageTag=localhost/NAME")  # fmt: skip
    file = single["File"].value if "File" in single else ""
    where = single["SetWorkingDirectory"].value if "SetWorkingDirectory" in single else ""
    if not file and not where:
        raise QuadletError(f"{path}: [Build] has neither SetWorkingDirectory= nor File= (neither "
                           "SetWorkingDirectory, nor File key specified)",
                           hint="give the context: SetWorkingDirectory=unit (the .build file's directory)")
    for key in ("File", "SetWorkingDirectory"):
        value = single[key].value if key in single else ""
        if "://" in value or value.startswith(("git@", "github.com/")):
            raise refuse(single[key], f"{value!r}: sdc builds from a directory of this host", "give a path")
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value) or value.startswith("-"):
            raise refuse(single[key], f"{value!r} is no path sdc takes", "give a path")
    unit_dir = ours(posixpath.dirname(path) or ".")
    if where == "unit":
        working, context = unit_dir, unit_dir
    elif where == "file":
        if not file:
            raise refuse(single["SetWorkingDirectory"], "file needs File=", "give File=, or SetWorkingDirectory=unit")
        working = posixpath.dirname(posixpath.join(unit_dir, file)) if not file.startswith("%") else \
            posixpath.dirname(file)  # fmt: skip
        context = working
    elif where:  # a path: relative ones from the .build file's directory, as Podman's unit reads them
        working, context = (unit_dir, where) if not where.startswith(("/", "%")) else (where, where)
    else:
        if not file.startswith(("/", "%")):
            raise refuse(single["File"], "a relative path in File= needs SetWorkingDirectory= (relative path in "
                         "File key requires SetWorkingDirectory key to be set)", "give SetWorkingDirectory=unit")
        working, context = "", posixpath.dirname(file)  # (the Containerfile's directory: Podman's context)
    arguments = [*(w for tag in tags for w in ("--tag", tag)), *arguments]
    if file:
        arguments += ["--file", file]
    if "Target" in single:
        arguments += ["--target", single["Target"].value]
    if "Pull" in single:
        if single["Pull"].value not in PULL:
            raise refuse(single["Pull"], f"{single['Pull'].value!r} is not always, missing, never or newer",
                         "write Pull=always")  # fmt: skip
        arguments += PULL[single["Pull"].value]
    if "ForceRM" in single:
        arguments.append(f"--force-rm={'true' if parse_bool(single['ForceRM']) else 'false'}")
    if "Network" in single:
        if single["Network"].value not in ("host", "none", "default"):
            raise refuse(single["Network"], f"{single['Network'].value!r}: a build's RUN steps take host, none "
                         "or the default network", "write Network=host or Network=none")  # fmt: skip
        arguments += ["--network", single["Network"].value]
    auth = single["AuthFile"].value if "AuthFile" in single else ""
    if auth and (not auth.startswith("/") or any(ord(c) < 0x20 or ord(c) == 0x7F for c in auth)):
        raise refuse(single["AuthFile"], "needs an absolute path", "write AuthFile=/etc/sdc/auth.json")
    return BuildUnit(tags=tuple(tags), context=context, working_directory=working, arguments=tuple(arguments),
                     auth_file=auth, global_args=tuple(global_args))  # fmt: skip


def _reference(s: Setting) -> str:
    from sdcontainer.errors import UsageError
    from sdcontainer.images import reference

    if s.value.startswith("-") or not s.value:
        raise refuse(s, f"{s.value!r} is no image name", "write ImageTag=localhost/NAME")
    if "%" not in s.value:
        try:
            reference.parse(s.value)
        except UsageError as exc:
            raise refuse(s, exc.message, exc.hint or "write ImageTag=localhost/NAME") from None
    return s.value
