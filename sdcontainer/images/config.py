"""Image configs that sdc writes: `commit`'s, and the Dockerfile instructions `--change` takes.

A change is one instruction as `docker commit --change` and `docker import --change` take it:
CMD, ENTRYPOINT (JSON form or shell form), ENV, LABEL, EXPOSE, USER, WORKDIR, STOPSIGNAL, VOLUME.
"""

from __future__ import annotations

import copy
import json
import shlex
import time
from typing import Any

from sdcontainer.errors import UsageError

INSTRUCTIONS = ("CMD", "ENTRYPOINT", "ENV", "LABEL", "EXPOSE", "USER", "WORKDIR", "STOPSIGNAL", "VOLUME")


def _command(text: str) -> list[str]:
    """Exec form (a JSON array of strings) or shell form (run by /bin/sh -c)."""
    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise UsageError(f"{text!r} is not a JSON array of strings", hint='write ["executable", "arg"]')
        return value
    return ["/bin/sh", "-c", text]


def _pairs(text: str, instruction: str) -> dict[str, str]:
    """KEY=VALUE pairs (quoted as a shell would), or the old `KEY VALUE` form."""
    words = shlex.split(text)
    if words and "=" not in words[0]:
        key, _, value = text.partition(" ")
        return {key: value.strip()}
    pairs = {}
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise UsageError(f"{instruction} {text!r} is not KEY=VALUE", hint=f"write {instruction} KEY=VALUE")
        pairs[key] = value
    return pairs


def apply_changes(runtime: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    """runtime (an image config's `config`) with the instructions applied, in order."""
    result = copy.deepcopy(runtime)
    for change in changes:
        instruction, _, text = change.strip().partition(" ")
        instruction, text = instruction.upper(), text.strip()
        if instruction not in INSTRUCTIONS:
            raise UsageError(f"--change {change!r}: {instruction or 'nothing'} cannot be changed",
                             hint=f"use one of {', '.join(INSTRUCTIONS)}")  # fmt: skip
        if not text:
            raise UsageError(f"--change {change!r} gives no value", hint=f"write {instruction} VALUE")
        if instruction in ("CMD", "ENTRYPOINT"):
            result[instruction.title()] = _command(text)
            if instruction == "ENTRYPOINT":  # as a Dockerfile's: a new entrypoint drops the inherited CMD
                result["Cmd"] = None
        elif instruction == "ENV":
            env = dict(e.partition("=")[::2] for e in result.get("Env") or [])
            env.update(_pairs(text, "ENV"))
            result["Env"] = [f"{k}={v}" for k, v in env.items()]
        elif instruction == "LABEL":
            result["Labels"] = {**(result.get("Labels") or {}), **_pairs(text, "LABEL")}
        elif instruction in ("EXPOSE", "VOLUME"):
            key = "ExposedPorts" if instruction == "EXPOSE" else "Volumes"
            items = _command(text) if text.startswith("[") else text.split()
            if instruction == "EXPOSE":
                items = [p if "/" in p else f"{p}/tcp" for p in items]
            result[key] = {**(result.get(key) or {}), **{item: {} for item in items}}
        else:
            result[{"USER": "User", "WORKDIR": "WorkingDir", "STOPSIGNAL": "StopSignal"}[instruction]] = text
    return result


# What an image config's `config` holds that sdc reads, and the JSON type each must be
# (image-spec config.md): a value of another type is refused where the config comes in.
_STRINGS = ("User", "WorkingDir", "StopSignal")
_STRING_LISTS = ("Env", "Entrypoint", "Cmd")
_OBJECTS = ("ExposedPorts", "Volumes", "Labels")


CONFIG_DEPTH = 32  # an image config's JSON nesting, at most (Docker's own is 4 deep)


def _depth(value: Any) -> int:
    """How deep value's lists and objects nest, without recursion (a config is outside input)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            if level <= CONFIG_DEPTH:
                todo += [(v, level + 1) for v in (item.values() if isinstance(item, dict) else item)]
    return deepest


def check_image_config(config: Any) -> None:
    """An image config from outside (an archive, a registry) as sdc reads it, each field sdc
    uses of its type: one UsageError naming the first that is not (never a traceback later)."""

    def bad(what: str) -> UsageError:
        return UsageError(f"the image's config has {what}", hint="the image is corrupt, or was made to be")

    if not isinstance(config, dict):
        raise bad("no JSON object at its top")
    if _depth(config) > CONFIG_DEPTH:
        raise bad(f"values nested more than {CONFIG_DEPTH} deep")
    runtime = config.get("config")
    if runtime is not None and not isinstance(runtime, dict):
        raise bad("a `config` that is no object")
    for key, value in (runtime or {}).items():
        if value is None:
            continue
        if key in _STRINGS and not isinstance(value, str):
            raise bad(f"a {key} that is no string")
        if key in _STRING_LISTS and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise bad(f"an {key} that is no list of strings")
        if key in _OBJECTS and not isinstance(value, dict):
            raise bad(f"{key} that is no object")
    history = config.get("history")
    if history is not None and not (isinstance(history, list) and all(isinstance(h, dict) for h in history)):
        raise bad("a history that is no list of objects")
    for key in ("created", "author", "architecture", "os"):
        if config.get(key) is not None and not isinstance(config[key], str):
            raise bad(f"a `{key}` that is no string")


def iso_time(timestamp: float) -> str:
    """RFC 3339 in UTC, as image configs give times."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(timestamp)) + f".{int(timestamp % 1 * 1e9):09d}Z"


def committed(
    base: dict[str, Any],
    runtime: dict[str, Any],
    diff_id: str,
    *,
    created: float,
    author: str = "",
    comment: str = "",
    created_by: str = "",
) -> dict[str, Any]:
    """The config of an image made of base's and one more layer (diff_id), run as runtime says."""
    config = copy.deepcopy(base)
    config["created"] = iso_time(created)
    if author:
        config["author"] = author
    config["config"] = runtime
    rootfs = config.setdefault("rootfs", {"type": "layers", "diff_ids": []})
    rootfs["diff_ids"] = [*rootfs.get("diff_ids", []), diff_id]
    entry = {"created": config["created"], "created_by": created_by}
    entry.update({k: v for k, v in (("author", author), ("comment", comment)) if v})
    config["history"] = [*config.get("history", []), entry]
    return config
