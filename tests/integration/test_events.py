"""`sdc events` (issue 24): streamed as they happen, replayed from the journal with --since."""

from __future__ import annotations

import json
import subprocess
import time

from tests.integration.conftest import Sdc
from tests.integration.test_exit_statuses import OOM


def _actions(lines: list[str], name: str) -> list[tuple[str, str]]:
    found = [json.loads(line) for line in lines if line.strip()]
    return [(e["Action"], e["Actor"]["Attributes"].get("exitCode", "")) for e in found
            if e["Actor"]["Attributes"]["name"] == name]  # fmt: skip


def test_events_stream_and_replay_a_containers_life(sdc: Sdc, image: str, name: str) -> None:
    started = time.time()
    watcher = subprocess.Popen(sdc.argv("events", "--format", "json", "--filter", f"container={name}"),
                               stdout=subprocess.PIPE, text=True, env=sdc.env())  # fmt: skip
    try:
        time.sleep(1)  # journalctl follows from here
        sdc.ok("run", "-d", "--name", name, image, "sh", "-c", "exit 3")
        assert sdc.ok("wait", name) == "3\n"
        sdc.ok("start", name)
        assert sdc.ok("wait", name) == "3\n"
        sdc.ok("rm", name)
        time.sleep(1)
    finally:
        watcher.terminate()
        out, _ = watcher.communicate(timeout=10)
    life = [("create", ""), ("start", ""), ("die", "3"), ("start", ""), ("die", "3"), ("destroy", "")]
    assert _actions(out.splitlines(), name) == life
    replayed = sdc.ok("events", "--since", f"{started:.3f}", "--until", f"{time.time():.3f}", "--format", "json",
                      "--filter", f"container={name}", timeout=30)  # fmt: skip
    assert _actions(replayed.splitlines(), name) == life
    text = sdc.ok("events", "--since", f"{started:.3f}", "--until", f"{time.time():.3f}", "--filter",
                  f"container={name}", "--filter", "event=die", timeout=30).splitlines()  # fmt: skip
    assert len(text) == 2 and all("container die " in t and f"exitCode=3, image={image}, name={name})" in t
                                  for t in text)  # fmt: skip


def test_an_oom_kill_and_a_stop_are_events(sdc: Sdc, image: str, name: str) -> None:
    started = time.time()
    sdc.ok("run", "-d", "--name", name, "-m", "8m", "--network", "none", image, "sh", "-c", f"sleep 0.5; {OOM}")
    assert sdc.ok("wait", name) == "137\n"
    sdc.ok("start", name)
    sdc.ok("stop", "-t", "0", name)
    sdc.ok("run", "--name", f"{name}-fg", image, "true")
    until = f"{time.time() + 1:.3f}"
    time.sleep(1.2)
    out = sdc.ok("events", "--since", f"{started:.3f}", "--until", until, "--format", "json", timeout=30)
    actions = _actions(out.splitlines(), name)
    assert actions[:4] == [("create", ""), ("start", ""), ("oom", ""), ("die", "137")], actions
    assert ("stop", "") in actions[4:]
    assert _actions(out.splitlines(), f"{name}-fg") == [("create", ""), ("start", ""), ("die", "0")]
    sdc("rm", f"{name}-fg")


def test_bad_filters_are_one_line(sdc: Sdc) -> None:
    for bad in ("colour=red", "event=explode", "container"):
        proc = sdc("events", "--filter", bad, "--since", "1m", "--until", "now")
        assert proc.returncode != 0 and "--filter" in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr


def test_rm_f_says_how_the_containers_it_kills_ended(sdc: Sdc, image: str, name: str) -> None:
    """`rm -f` of running containers (issue 26: their ExecStopPost takes the end rm leaves, and
    imports nothing): each dies with SIGKILL's 137, said as Docker says it, before it is destroyed,
    and a `wait` begun before prints it; one that ended by itself first keeps its own end."""
    names = [f"{name}-{i}" for i in range(3)]
    started = time.time()
    for other in names[:2]:
        sdc.ok("run", "-d", "--name", other, image, "sleep", "1000")
    sdc.ok("run", "-d", "--name", names[2], image, "sh", "-c", "exit 4")
    assert sdc.ok("wait", names[2]) == "4\n"
    waiter = subprocess.Popen(sdc.argv("wait", names[0]), stdout=subprocess.PIPE, text=True, env=sdc.env())
    time.sleep(1)
    sdc.ok("rm", "-f", *names)
    assert waiter.communicate(timeout=30)[0] == "137\n"
    replayed = sdc.ok("events", "--since", f"{started:.3f}", "--until", f"{time.time() + 1:.3f}", "--format", "json",
                      timeout=30).splitlines()  # fmt: skip
    for other in names[:2]:
        assert _actions(replayed, other) == [("create", ""), ("start", ""), ("die", "137"), ("destroy", "")]
    assert _actions(replayed, names[2]) == [("create", ""), ("start", ""), ("die", "4"), ("destroy", "")]
    # the killed ones' die said by rm (its ExecStopPost took the short path), the other's by its unit's
    entries = [json.loads(line) for line in subprocess.run(
        ["journalctl", "-o", "json", "--since", f"@{started:.6f}", "SDC_EVENT=die"], capture_output=True, text=True,
    ).stdout.splitlines()]  # fmt: skip
    units = {e.get("SDC_CONTAINER_NAME"): e.get("_SYSTEMD_UNIT", "") for e in entries}
    assert [units[n] == f"sdc-{n}.service" for n in names] == [False, False, True], units
