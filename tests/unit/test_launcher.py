"""The launcher's own JSON reading (it does without the json module), checked against json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sdcontainer.launcher import read_config


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
