"""A container outlives its runs (issue 8): create, start (-a), stop and start again with its files
kept, restart, wait, pause and unpause; each start a fresh transient unit over the same bundle and
writable layer."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from tests.integration.conftest import Sdc, rootfs_of, store_state, unit_property


def ps_status(sdc: Sdc, name: str) -> str:
    [row] = [r for r in json.loads(sdc.ok("ps", "-a", "--format", "json")) if r["Name"] == name]
    return str(row["Status"])


def test_create_then_start_attached_twice_keeps_the_files(sdc: Sdc, image: str, name: str) -> None:
    cid = sdc.ok("create", "--name", name, image, "sh", "-c", "echo run >> /log; cat /log; exit 3").strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    assert ps_status(sdc, name) == "Created"
    first = sdc("start", "-a", name)
    assert (first.returncode, first.stdout) == (3, "run\n"), first.stderr
    second = sdc("start", "--attach", name)
    assert (second.returncode, second.stdout) == (3, "run\nrun\n"), second.stderr
    assert ps_status(sdc, name).startswith("Exited (3)")
    assert json.loads(sdc.ok("inspect", name))[0]["Id"] == cid


def test_stop_and_start_a_detached_container_keeps_its_files(sdc: Sdc, image: str, name: str, store: Path) -> None:
    cid = sdc.ok("run", "-d", "--name", name, image, "sleep", "1000").strip()
    sdc.ok("exec", name, "sh", "-c", "echo kept > /kept")
    first_pid = unit_property(f"sdc-{name}.service", "MainPID")
    sdc.ok("stop", "-t", "1", name)
    assert ps_status(sdc, name).startswith("Exited (")
    assert sdc.ok("start", name) == f"{name}\n"
    assert sdc.ok("exec", name, "cat", "/kept") == "kept\n"
    assert unit_property(f"sdc-{name}.service", "MainPID") != first_pid
    assert sdc.ok("start", name) == f"{name}\n"  # running already: nothing to do, as Docker's
    sdc.ok("restart", "-t", "1", name)
    assert sdc.ok("exec", name, "cat", "/kept") == "kept\n" and ps_status(sdc, name).startswith("Up")
    assert json.loads(sdc.ok("inspect", name))[0]["Id"] == cid
    sdc.ok("rm", "-f", name)
    # its layer went with it; how it ended is kept by its ID for an hour (for a `wait` begun before)
    assert not [p for p in store.rglob(f"*{cid}*") if p.parent != store / "exits"]


def test_wait_returns_the_exit_code(sdc: Sdc, image: str, name: str) -> None:
    sdc.ok("run", "-d", "--name", name, image, "sh", "-c", "sleep 1; exit 7")
    started = time.monotonic()
    assert sdc.ok("wait", name) == "7\n"
    assert time.monotonic() - started > 0.5
    assert sdc.ok("wait", name) == "7\n"  # and again, once it has ended


def test_pause_stops_every_process_and_unpause_lets_them_go(sdc: Sdc, image: str, name: str) -> None:
    sdc.ok("run", "-d", "--name", name, image, "sh", "-c",
           "i=0; while :; do i=$((i+1)); echo $i > /count; sleep 0.05; done")  # fmt: skip
    count = rootfs_of(sdc, name) / "count"

    def read() -> int:
        for _ in range(50):
            text = count.read_text().strip()
            if text:
                return int(text)
            time.sleep(0.02)  # between the shell's truncate and its write
        raise AssertionError("the counter is never written")

    time.sleep(0.3)
    sdc.ok("pause", name)
    assert ps_status(sdc, name).endswith("(Paused)")
    state = json.loads(sdc.ok("inspect", name))[0]["State"]
    assert state["Status"] == "paused" and state["Paused"] is True
    frozen = read()
    time.sleep(0.5)
    assert read() == frozen
    assert sdc("pause", name).returncode != 0  # paused already
    sdc.ok("unpause", name)
    time.sleep(0.5)
    assert read() > frozen and not ps_status(sdc, name).endswith("(Paused)")
    sdc.ok("pause", name)
    sdc.ok("stop", "-t", "1", name)  # a paused container stops too: thawed for its stop signal
    assert ps_status(sdc, name).startswith("Exited (")


def test_lifecycle_errors_are_one_line_and_leave_nothing(sdc: Sdc, image: str, name: str, store: Path) -> None:
    before = store_state(store)
    for args in (("start", "no-such"), ("wait", "no-such"), ("pause", "no-such"), ("restart", "no-such")):
        proc = sdc(*args)
        assert proc.returncode != 0 and "no such container" in proc.stderr and proc.stderr.count("\n") == 1, args
    proc = sdc("create", "--name", name, image)  # busybox has no Cmd
    assert proc.returncode == 125 and "no command specified" in proc.stderr
    assert store_state(store) == before
    sdc.ok("create", "--name", name, image, "true")
    proc = sdc("pause", name)
    assert proc.returncode != 0 and "is not running" in proc.stderr and proc.stderr.count("\n") == 1
