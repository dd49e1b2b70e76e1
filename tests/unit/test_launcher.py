"""The launcher's pure parts: its JSON (it does without the json module), checked against
json's, and how it reads the end of a container from systemd's ExecStopPost environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sdcontainer.launcher import _json_object, exit_status_from_environment, read_config


@pytest.mark.parametrize(
    "value",
    [
        {},
        {"ociVersion": "1.0.2", "process": {"args": ["sh", "-c", 'echo "hi" \\ é'], "env": [], "user": {"uid": 0}}},
        {"a": [1, -2.5, 1e3, True, False, None, {"b": []}], "ünï": "\u2603\n\t"},
    ],
)
def test_read_config_reads_what_json_writes(value: dict[str, object], tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
    assert read_config(str(path)) == value


@pytest.mark.parametrize("text", ["", "[1]", '{"a": 1} x', '{"a": NaN}', '{"a": Infinity}', '{"a": }', "{'a': 1}"])
def test_read_config_refuses_what_is_not_one_strict_json_object(text: str, tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(text)
    with pytest.raises(ValueError):
        read_config(str(path))


def test_exit_codes_from_systemd_environment() -> None:
    assert exit_status_from_environment({"EXIT_CODE": "exited", "EXIT_STATUS": "3"}) == 3
    assert exit_status_from_environment({"EXIT_CODE": "killed", "EXIT_STATUS": "KILL"}) == 137
    assert exit_status_from_environment({"EXIT_CODE": "dumped", "EXIT_STATUS": "SEGV"}) == 139
    assert exit_status_from_environment({"EXIT_CODE": "killed", "EXIT_STATUS": "_DFL"}) is None
    assert exit_status_from_environment({}) is None


def test_the_state_it_writes_is_what_json_reads() -> None:
    state = {"exit_code": 3, "finished": 1795000000.123456, "result": "exit-code \"é\"\n", "oom_killed": False,
             "none": None, "yes": True}  # fmt: skip
    assert json.loads(_json_object(state)) == state
