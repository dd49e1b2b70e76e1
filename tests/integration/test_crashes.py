"""`sdc run` killed at any moment (issue 13): every state a kill -9 leaves is finished or rolled back
by the next command that touches it; `ps -a` shows every container that holds a name; `rm -f` works."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.conftest import Sdc, sdc_units, store_state

STEPS = 16  # 0, 10, ... 150 ms on this project's VM: see window()
REPEATS = 5


def window(sdc: Sdc, image: str, mode: str) -> float:
    """How long after its start a run may be killed: 150 ms, or longer where a whole run takes longer
    (a slower machine), so that the kills fall before, during and after the start everywhere."""
    flags = ["-d"] if mode == "detached" else []
    took = []
    for i in range(3):
        start = time.monotonic()
        sdc.ok("run", *flags, "--rm", "--name", f"calibrate-{mode}-{i}", image, "true")
        took.append(time.monotonic() - start)
    deadline = time.monotonic() + 10  # their units gone too, before the test looks at what is left
    while any(u.startswith("sdc-calibrate-") for u in sdc_units()) or any(
        n.startswith("calibrate-")
        for n in store_state(sdc.root)["containers"]  # type: ignore[union-attr]
    ):
        assert time.monotonic() < deadline, sdc_units()
        time.sleep(0.05)
    return max(0.150, 1.2 * min(took))


def kill_run_after(sdc: Sdc, delay: float, *args: str) -> None:
    proc = subprocess.Popen(sdc.argv("run", *args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=sdc.env())  # fmt: skip
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def check_after_the_kill(sdc: Sdc, store: Path, name: str, image: str, when: str) -> str:
    """The name is held by a container ps shows, which rm -f removes; or it is free for a run."""
    listed = json.loads(sdc.ok("ps", "-a", "--format", "json"))
    holder = [c for c in listed if c["Name"] == name]
    if holder:
        proc = sdc("rm", "-f", name)
        assert proc.returncode == 0, f"{when}: rm -f of {holder[0]['Status']!r}: {proc.stderr}"
        outcome = holder[0]["Status"].split(" ")[0]
    else:
        assert not (store / "containers" / name).exists(), f"{when}: a name ps does not show is held"
        proc = sdc("run", "--rm", "--name", name, image, "true")
        assert proc.returncode == 0, f"{when}: the next run of that name: {proc.stderr}"
        outcome = "gone"
    assert not any(u.startswith(f"sdc-{name}.") for u in sdc_units()), f"{when}: {sdc_units()}"
    return outcome


@pytest.mark.parametrize("mode", ["foreground", "detached"])
def test_kill_9_of_run_at_any_moment_leaves_a_consistent_store(sdc: Sdc, image: str, store: Path, mode: str) -> None:
    span = window(sdc, image, mode)
    step = span / (STEPS - 1)
    before = store_state(store)
    outcomes: dict[str, int] = {}
    for n in range(STEPS):
        for i in range(REPEATS):
            name = f"crash-{mode[0]}-{n}-{i}"
            flags = (["-d"] if mode == "detached" else []) + (["--rm"] if i % 2 else [])
            # Apart by a fifth of a step within each: the moments cover the whole window.
            delay = (n + i / REPEATS) * step
            kill_run_after(sdc, delay, *flags, "--name", name, image, "sleep", "1000")
            if (store / "containers" / name / "starting").exists():
                outcomes["killed while starting"] = outcomes.get("killed while starting", 0) + 1
            outcome = check_after_the_kill(sdc, store, name, image, f"{mode}, killed after {delay * 1000:.0f} ms")
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert store_state(store) == before, "something leaked"
    print(f"{mode}: kills over {span * 1000:.0f} ms: {outcomes}")
    # The kills fell before, during and after the start.
    assert outcomes.get("gone") and outcomes.get("Up") and outcomes.get("killed while starting"), outcomes
