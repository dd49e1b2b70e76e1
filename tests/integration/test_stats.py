"""`sdc stats` from systemd's accounting, and `sdc top` (issue 24)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.integration.conftest import Sdc, systemctl


def _show(unit: str, *props: str) -> dict[str, str]:
    out = systemctl("show", unit, *[f"-p{p}" for p in props]).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def test_stats_agree_with_systemctl_show(sdc: Sdc, image: str, name: str) -> None:
    sdc.ok("run", "-d", "--name", name, "-m", "64m", image, "sh", "-c",
           "x=$(head -c 8000000 /dev/zero | tr '\\0' a); sleep 1000 & sleep 1000 & wait")  # fmt: skip
    time.sleep(1.5)
    [row] = [json.loads(line) for line in sdc.ok("stats", "--no-stream", "--format", "json", name).splitlines()]
    shown = _show(f"sdc-{name}.service", "MemoryCurrent", "TasksCurrent", "MemoryMax")
    assert row["Name"] == name and row["MemoryLimitBytes"] == 64 << 20 == int(shown["MemoryMax"])
    assert abs(row["MemoryBytes"] - int(shown["MemoryCurrent"])) <= 0.05 * int(shown["MemoryCurrent"])
    assert row["Tasks"] == int(shown["TasksCurrent"]) == 3 and row["PIDs"] == "3"
    assert row["MemUsage"].endswith(" / 64MiB") and row["CPUPerc"].endswith("%")
    table = sdc.ok("stats", "--no-stream", name).splitlines()
    assert table[0].split() == ["CONTAINER", "ID", "NAME", "CPU", "%", "MEM", "USAGE", "/", "LIMIT", "MEM", "%",
                                "NET", "I/O", "BLOCK", "I/O", "PIDS"]  # fmt: skip
    assert name in table[1]
    assert sdc.ok("stats", "--no-stream", "--format", "{{.Name}}={{.PIDs}}", name) == f"{name}=3\n"


def test_a_cpu_burner_is_about_one_cpu(sdc: Sdc, image: str, name: str) -> None:
    sdc.ok("run", "-d", "--name", name, image, "sh", "-c", "while :; do :; done")
    time.sleep(0.5)
    out = sdc.ok("stats", "--no-stream", "--interval", "1", "--format", "json", name)
    cpu = json.loads(out)["CPUPercent"]
    assert 70 <= cpu <= 110, cpu


def test_fifty_containers_stats_in_one_call(sdc: Sdc, image: str, name: str) -> None:
    names = [f"{name}-{i}" for i in range(50)]
    try:
        for n in names:
            sdc.ok("run", "-d", "--name", n, image, "sleep", "1000")
        out = sdc.ok("stats", "--no-stream", "--interval", "0.05", "--format", "json", *names)
        assert len(out.splitlines()) == 50 and all(json.loads(line)["Tasks"] == 1 for line in out.splitlines())
        # one round: every container's counters (sdc's own start, and connecting, apart)
        timing = ("import sys, time; from sdcontainer.api.context import Context; from sdcontainer.paths import Paths; "
                  "from sdcontainer.api import stats; from pathlib import Path; ctx = Context(Paths(Path(sdc_root))); "
                  "found = stats.running(ctx, sys.argv[1:]); stats.sample(ctx, found); "
                  "t = time.monotonic(); stats.sample(ctx, found); print(time.monotonic() - t)")  # fmt: skip
        timed = subprocess.run([sys.executable, "-c", timing.replace("sdc_root", repr(str(sdc.root))), *names],
                               capture_output=True, text=True, env=sdc.env())  # fmt: skip
        assert timed.returncode == 0, timed.stderr
        took = float(timed.stdout)
        assert took <= 0.3, took
    finally:
        sdc("rm", "-f", *names)


def test_stats_of_a_stopped_container_is_refused(sdc: Sdc, image: str, name: str) -> None:
    sdc.ok("create", "--name", name, image, "true")
    proc = sdc("stats", "--no-stream", name)
    assert proc.returncode != 0 and "is not running" in proc.stderr and proc.stderr.count("\n") == 1


def test_top_shows_each_process_with_both_pids(sdc: Sdc, image: str, name: str) -> None:
    sdc.ok("run", "-d", "--name", name, image, "sh", "-c", "sleep 1001 & sleep 1002 & wait")
    time.sleep(0.5)
    rows = sdc.ok("top", name).splitlines()
    assert rows[0].split()[:2] == ["PID", "CPID"]
    body = [r.split() for r in rows[1:]]
    assert len(body) == 3
    assert "1" in [r[1] for r in body]  # its PID 1, the sh
    assert all(r[0] != r[1] for r in body)  # the host's PID is not the container's
    assert any("sleep 1001" in " ".join(r) for r in body)
    # ps options pass through
    rows = sdc.ok("top", name, "-eo", "pid,comm").splitlines()
    assert rows[0].split() == ["PID", "CPID", "COMMAND"] and len(rows) == 4


@pytest.mark.parametrize(("fmt", "said"), [("{{.Nope}}", "can't evaluate field Nope"), ("{{.Name", "unclosed action")])
def test_a_bad_template_is_one_line(sdc: Sdc, image: str, name: str, fmt: str, said: str) -> None:
    sdc.ok("run", "-d", "--name", name, image, "sleep", "1000")
    proc = sdc("stats", "--no-stream", "--format", fmt, name)
    assert proc.returncode == 125 and said in proc.stderr and len(proc.stderr.splitlines()) == 1, proc.stderr
