"""container.json read back as records of any sdc's (issue 22, item 17): an older shape loads (what
it lacks defaulted), a later one's unknown fields are kept through a rewrite, a damaged record is
left out of the listing with a warning naming it, and one that vanishes as it is read is gone."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdcontainer import containers
from sdcontainer.containers import Container, RecordError
from sdcontainer.errors import SdcError
from sdcontainer.paths import Paths

# A record as sdc 0.1 of eccfd50 wrote it: no "version", no "interactive", no "extra".
OLD = {
    "id": hashlib.sha256(b"old").hexdigest(), "image_id": "sha256:" + "0" * 64, "unit": "sdc-old.service",
    "driver": "btrfs", "rootfs": "/var/lib/sdc/storage/containers/x", "bundle": "/var/lib/sdc/containers/old",
    "created": 1796400000.5,
    "spec": {"name": "old", "image": "bb", "command": ["sleep", "1"], "env": [], "workdir": "/", "hostname": "",
             "user": "root", "entrypoint": None, "detach": True, "auto_remove": False, "tty": False,
             "stop_timeout": 10, "stop_signal": "SIGTERM", "seccomp": "", "cap_add": [], "cap_drop": [],
             "privileged": False, "userns": "", "devices": [], "device_rules": [], "volumes": [], "restart": "",
             "init": False, "sdnotify": "", "systemd": "true", "enable": False,
             "limits": {"memory": None, "memory_swap": None, "cpu_shares": None, "cpus": None, "cpuset_cpus": [],
                        "pids_limit": None, "blkio_weight": None}},
}  # fmt: skip


def store_with(tmp_path: Path, records: dict[str, Any]) -> Paths:
    paths = Paths(tmp_path)
    for name, record in records.items():
        paths.container(name).mkdir(parents=True)
        (paths.container(name) / "container.json").write_text(json.dumps(record))
    return paths


def test_an_older_record_loads_its_lacks_defaulted() -> None:
    c = Container.from_json(OLD)
    assert (c.name, c.spec.command, c.spec.interactive, c.spec.limits.cpuset_cpus) == ("old", ("sleep", "1"), False, ())


def test_a_later_records_unknown_fields_survive_a_rewrite(tmp_path: Path) -> None:
    later = {**OLD, "version": 9, "health": {"cmd": "x"}, "spec": {**OLD["spec"], "pod": "app",
             "limits": {**OLD["spec"]["limits"], "io_max": 5}}}  # fmt: skip
    c = Container.from_json(later)
    paths = store_with(tmp_path, {"old": OLD})
    containers.write_container(paths, c)
    written = json.loads((paths.container("old") / "container.json").read_text())
    assert written["health"] == {"cmd": "x"} and written["spec"]["pod"] == "app"
    assert written["spec"]["limits"]["io_max"] == 5 and written["version"] == containers.RECORD_VERSION
    assert Container.from_json(written) == c


@pytest.mark.parametrize("damage", [
    {"id": "../../etc"}, {"spec": []}, {"created": "yesterday"}, {"spec": {**OLD["spec"], "tty": "yes"}},
    {"spec": {**OLD["spec"], "name": "../x"}}, {"spec": {**OLD["spec"], "command": "sleep 1"}},
    {"unit": None}, {"spec": {**OLD["spec"], "limits": {"memory": "1g"}}},
])  # fmt: skip
def test_a_damaged_record_is_left_out_with_a_warning(tmp_path: Path, damage: dict[str, Any],
                                                    caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    fine = {**OLD, "id": hashlib.sha256(b"fine").hexdigest(), "spec": {**OLD["spec"], "name": "fine"}}
    paths = store_with(tmp_path, {"fine": fine, "old": {**OLD, **damage}})
    with pytest.raises(RecordError):
        Container.from_json({**OLD, **damage})
    with caplog.at_level(logging.WARNING):
        assert [c.name for c in containers.list_containers(paths)] == ["fine"]
    assert "old/container.json" in caplog.text


def test_an_entry_that_is_no_container_is_passed_over(tmp_path: Path) -> None:
    """As the glob that listed them did: a file, an empty directory, a link that loops."""
    paths = store_with(tmp_path, {"old": OLD})
    (paths.containers / "loop").symlink_to("loop")
    (paths.containers / "file").write_text("")
    (paths.containers / "empty").mkdir()
    assert [c.name for c in containers.list_containers(paths)] == [OLD["spec"]["name"]]


def test_a_record_that_vanishes_as_it_is_read_is_gone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = store_with(tmp_path, {"old": OLD})

    def vanished(path: Path) -> Any:
        raise FileNotFoundError(path)

    monkeypatch.setattr(containers, "read_json", vanished)
    assert containers.list_containers(paths) == []


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                                 max_size=4), max_leaves=20),
       st.sampled_from(sorted(OLD)), st.sampled_from([None, *sorted(OLD["spec"])]))  # fmt: skip
def test_any_value_anywhere_is_a_record_or_one_error(value: Any, key: str, spec_key: str | None) -> None:
    """A record with any JSON value in place of any field: a Container, or RecordError (an SdcError),
    never a traceback."""
    record = json.loads(json.dumps(OLD))
    if spec_key is None:
        record[key] = value
    else:
        record["spec"][spec_key] = value
    try:
        Container.from_json(record)
    except SdcError:
        pass
