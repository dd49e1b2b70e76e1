"""The sdc-launcher protocol: one module names the bundle's files and shapes its records."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sdcontainer import protocol
from sdcontainer.launcher import _json_object, exit_state

PACKAGE = Path(__file__).resolve().parents[2] / "sdcontainer"


def test_no_other_module_spells_a_bundle_files_name() -> None:
    """A second spelling is a second place to change, and the next feature's bug."""
    names = [protocol.CONFIG, protocol.SECCOMP, protocol.RECORD, protocol.STARTING, protocol.LAUNCH_ERROR,
             protocol.STATE]  # fmt: skip  # not "pid": it is a namespace's name too
    pattern = re.compile("|".join(re.escape(f'"{n}"') for n in names))
    found = [
        f"{path.relative_to(PACKAGE)}: {match.group(0)}"
        for path in PACKAGE.rglob("*.py")
        if path.name != "protocol.py"
        for match in pattern.finditer(path.read_text())
    ]
    assert found == []


def test_clearing_a_run_forgets_its_records_only(tmp_path: Path) -> None:
    for name in (protocol.CONFIG, protocol.RECORD, protocol.SECCOMP, *protocol.RUN_RECORDS):
        (tmp_path / name).write_text("x")
    protocol.clear_run(str(tmp_path))
    protocol.clear_run(str(tmp_path))  # again: nothing to forget is no error
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([protocol.CONFIG, protocol.RECORD, protocol.SECCOMP])


def test_the_state_record_is_versioned_and_what_json_reads() -> None:
    state = exit_state({"EXIT_CODE": "killed", "EXIT_STATUS": "KILL", "SERVICE_RESULT": "signal"})
    assert json.loads(_json_object(state)) == state
    assert list(state) == ["version", "exit_code", "finished", "result", "oom_killed"]
    assert (state["version"], state["exit_code"], state["result"]) == (protocol.VERSION, 137, "signal")
