"""What Docker and Podman users type, as they mean it (issue 25's contract): --all on the
lifecycle commands, rm's -f/-i/-t, the `container` group, `exists`."""

from __future__ import annotations

import shlex
import time
from pathlib import Path

from tests.integration.conftest import Sdc


def _names(sdc: Sdc, *flags: str) -> set[str]:
    return set(sdc.ok("ps", *flags, "--format", "{{.Names}}").split())


def test_all_on_the_lifecycle_commands(fresh_sdc: Sdc, busybox_tar: Path) -> None:
    sdc = fresh_sdc
    sdc.ok("import", str(busybox_tar), "bb")
    for n in ("a", "b"):
        sdc.ok("run", "-d", "--name", n, "bb", "sleep", "1000")
    sdc.ok("create", "--name", "c", "bb", "sleep", "1000")
    assert sdc.ok("pause", "--all").split() == ["b", "a"] and _names(sdc, "--filter", "status=paused") == {"a", "b"}
    assert sorted(sdc.ok("unpause", "-a").split()) == ["a", "b"]
    assert sorted(sdc.ok("stop", "--all", "-t", "0").split()) == ["a", "b"] and _names(sdc) == set()
    assert sorted(sdc.ok("start", "--all").split()) == ["a", "b", "c"] and _names(sdc) == {"a", "b", "c"}
    assert sorted(sdc.ok("kill", "--all").split()) == ["a", "b", "c"]
    assert sorted(sdc.ok("restart", "--all", "-t", "0").split()) == ["a", "b", "c"] and _names(sdc) == {"a", "b", "c"}
    for command in (["stop", "--all", "a"], ["stop"], ["rm"]):
        proc = sdc(*command)
        assert proc.returncode == 125 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert sorted(sdc.ok("rm", "-af").split()) == ["a", "b", "c"] and _names(sdc, "-a") == set()
    assert sdc.ok("stop", "--all") == "" and sdc.ok("rm", "--all") == ""  # nothing to act on: no error


def test_rm_force_and_ignore_pass_over_what_is_not_there(sdc: Sdc, image: str, name: str) -> None:
    assert sdc("rm", "-f", "no-such-container").returncode == 0  # Podman's: -f, then nothing to do
    assert sdc("rm", "-i", "no-such-container").returncode == 0
    assert sdc("stop", "-i", "no-such-container").returncode == 0
    proc = sdc("rm", "no-such-container")
    assert proc.returncode != 0 and "no such container: no-such-container" in proc.stderr
    sdc.ok("run", "-d", "--name", name, image, "sh", "-c", "trap 'exit 7' TERM; sleep 1000 & wait")
    assert sdc.ok("rm", "-f", "-t", "5", name, "no-such-container") == f"{name}\n"
    assert sdc("container", "exists", name).returncode == 1


def test_the_container_group_and_exists(sdc: Sdc, image: str, name: str) -> None:
    sdc.ok("container", "run", "-d", "--name", name, image, "sleep", "1000")
    assert sdc.ok("container", "ls", "--format", "{{.Names}}", "--filter", f"name={name}") == f"{name}\n"
    assert sdc.ok("container", "inspect", "-f", "{{.State.Status}}", name) == "running\n"
    proc = sdc("container", "inspect", image)  # an image is no container
    assert proc.returncode != 0 and "no such container" in proc.stderr
    assert sdc.ok("container", "exec", name, "echo", "hi") == "hi\n"
    assert (sdc("container", "exists", name).returncode, sdc("container", "exists", "nope").returncode) == (0, 1)
    assert (sdc("image", "exists", image).returncode, sdc("image", "exists", "nope:1").returncode) == (0, 1)
    assert sdc("container", "exists", name).stdout == ""
    assert sdc.ok("container", "stop", "-t", "0", name) == f"{name}\n"
    assert sdc("volume", "exists", "no-such-volume").returncode == 1
    assert sdc("network", "exists", "no-such-network").returncode == 1


def test_container_prune_removes_the_stopped(fresh_sdc: Sdc, busybox_tar: Path) -> None:
    sdc = fresh_sdc
    sdc.ok("import", str(busybox_tar), "bb")
    sdc.ok("run", "-d", "--name", "up", "bb", "sleep", "1000")
    sdc.ok("create", "--name", "made", "bb", "true")
    sdc.ok("run", "--name", "ran", "bb", "true")
    removed = sdc.ok("container", "prune", "-f").split()
    assert len(removed) == 2 and all(len(r) == 64 for r in removed)
    assert _names(sdc, "-a") == {"up"}


def test_update_changes_limits_live_and_for_the_next_start(sdc: Sdc, image: str, name: str) -> None:
    from tests.integration.conftest import unit_property

    unit = f"sdc-{name}.service"
    sdc.ok("run", "-d", "--name", name, "-m", "64m", "--pids-limit", "50", image, "sleep", "1000")
    assert sdc.ok("update", "-m", "96m", "--pids-limit", "70", "--cpus", "0.5", name) == f"{name}\n"
    assert unit_property(unit, "MemoryMax") == str(96 << 20) and unit_property(unit, "TasksMax") == "70"
    assert unit_property(unit, "CPUQuotaPerSecUSec") == "500ms"
    host = sdc.ok("inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.NanoCpus}}", name)
    assert host == f"{96 << 20} 70 500000000\n"
    sdc.ok("stop", "-t", "0", name)
    sdc.ok("update", "--pids-limit", "80", name)  # stopped: for its next start
    sdc.ok("start", name)
    assert unit_property(unit, "TasksMax") == "80" and unit_property(unit, "MemoryMax") == str(96 << 20)
    for bad in (["-m", "lots"], ["--memory-swap", "32m"], ["--cpus", "-1"], []):
        proc = sdc("update", *bad, name)
        assert proc.returncode == 125 and len(proc.stderr.splitlines()) == 1, (bad, proc.stderr)
    assert unit_property(unit, "MemoryMax") == str(96 << 20)  # a refused update changed nothing
    proc = sdc("update", "-m", "64m", "no-such-container")
    assert proc.returncode != 0 and "no such container" in proc.stderr


def test_ulimit_oom_score_shm_tz(sdc: Sdc, image: str, name: str) -> None:
    out = sdc.ok("run", "--rm", "--ulimit", "nofile=1000:2000", "--ulimit", "nproc=100:200", "--oom-score-adj", "300",
                 "--shm-size", "16m", "--tz", "Europe/Berlin", image, "sh", "-c",
                 "ulimit -n; ulimit -Hn; ulimit -u; cat /proc/self/oom_score_adj; df -k /dev/shm | tail -1; "
                 "date +%Z")  # fmt: skip
    soft, hard, nproc, oom, shm, zone = out.splitlines()
    assert (soft, hard, nproc, oom) == ("1000", "2000", "100", "300"), out
    assert shm.split()[1] == str(16 * 1024), shm
    assert zone in ("CET", "CEST"), zone
    sdc.ok("run", "-d", "--name", name, "--ulimit", "nofile=512", image, "sleep", "1000")
    assert sdc.ok("exec", name, "sh", "-c", "ulimit -n") == "512\n"  # an exec has them too
    for bad in (["--ulimit", "nofile=2:1"], ["--ulimit", "bogus=1"], ["--oom-score-adj", "1001"],
                ["--tz", "../../etc/passwd"], ["--tz", "Nowhere/City"], ["--shm-size", "x"]):  # fmt: skip
        proc = sdc("run", "--rm", *bad, image, "true")
        assert proc.returncode == 125 and len(proc.stderr.splitlines()) == 1, (bad, proc.stderr)


def test_cidfile_replace_and_quiet(sdc: Sdc, image: str, name: str, tmp_path: Path) -> None:
    cidfile = tmp_path / "cid"
    cid = sdc.ok("run", "-d", "--name", name, "--cidfile", str(cidfile), image, "sleep", "1000").strip()
    assert cidfile.read_text() == cid
    proc = sdc("run", "-d", "--cidfile", str(cidfile), image, "true")
    assert proc.returncode == 125 and "is there already" in proc.stderr
    replaced = sdc.ok("run", "-d", "--replace", "--name", name, image, "sleep", "1000").strip()
    assert replaced != cid and sdc.ok("inspect", "-f", "{{.Id}}", name).strip() == replaced
    failed = tmp_path / "failed-cid"
    proc = sdc("run", "--cidfile", str(failed), "--name", name, image, "true")  # the name is taken: nothing made
    assert proc.returncode != 0 and not failed.exists()
    assert sdc("run", "--replace", image, "true").returncode == 125  # --replace needs --name
    assert sdc("run", "--rm", "-q", image, "true").stderr == ""


def test_names_that_are_one_machine_for_machined_are_refused(sdc: Sdc, image: str, name: str) -> None:
    underscored = name.replace("-", "_")
    sdc.ok("create", "--name", name, image, "true")
    proc = sdc("create", "--name", underscored, image, "true")
    assert proc.returncode == 125 and "to machined" in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert sdc("container", "exists", underscored).returncode == 1


def test_prunes_ask_first_unless_forced(fresh_sdc: Sdc, busybox_tar: Path) -> None:
    sdc = fresh_sdc
    sdc.ok("import", str(busybox_tar), "bb")
    sdc.ok("create", "--name", "made", "bb", "true")
    for answer in (b"", b"n\n", b"whatever\n"):  # no answer, or not yes: nothing removed
        proc = sdc("container", "prune", input=answer)
        assert proc.returncode == 0 and "WARNING! This will remove all stopped containers." in proc.stdout
        assert "Are you sure you want to continue? [y/N]" in proc.stdout and _names(sdc, "-a") == {"made"}
    proc = sdc("container", "prune", input=b"y\n")
    assert proc.returncode == 0 and _names(sdc, "-a") == set()
    sdc.ok("rmi", "bb")
    sdc.ok("import", str(busybox_tar), "bb")
    out = sdc("image", "prune", "-a", input=b"n\n").stdout
    assert "without at least one container" in out and sdc.ok("images", "-q") != ""
    assert "Total reclaimed space" in sdc("image", "prune", "-a", input=b"yes\n").stdout
    assert sdc.ok("images", "-q") == ""


def test_system_prune_and_log_level(fresh_sdc: Sdc, busybox_tar: Path) -> None:
    sdc = fresh_sdc
    sdc.ok("import", str(busybox_tar), "bb")
    sdc.ok("run", "-d", "--name", "up", "bb", "sleep", "1000")
    sdc.ok("create", "--name", "made", "bb", "true")
    sdc.ok("network", "create", "unused-net")
    sdc.ok("volume", "create", "unused-vol")
    out = sdc.ok("system", "prune", "-f", "--volumes")
    assert "Deleted Containers:" in out and "unused-net" in out and "unused-vol" in out, out
    assert _names(sdc, "-a") == {"up"} and sdc.ok("images", "-q") != ""  # bb is in use
    sdc.ok("rm", "-f", "up")
    assert "Total reclaimed space" in sdc.ok("system", "prune", "-af") and sdc.ok("images", "-q") == ""
    assert sdc.ok("--log-level", "error", "ps", "-a") == sdc.ok("ps", "-a")
    assert sdc("--log-level", "loud", "ps").returncode == 125
    assert "host" in sdc.ok("system", "info", "--format", "json")


def test_preserve_fds_and_socket_activation(sdc: Sdc, image: str, tmp_path: Path) -> None:
    import socket
    import subprocess

    given = tmp_path / "given"
    given.write_text("through fd 3\n")
    command = shlex.join(sdc.argv("run", "--rm", "--preserve-fds", "1", image, "sh", "-c",
                                  "cat <&3; echo ${LISTEN_FDS:-none}"))  # fmt: skip
    proc = subprocess.run(["bash", "-c", f"exec 3<{shlex.quote(str(given))}; exec {command}"],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, env=sdc.env())  # fmt: skip
    assert (proc.returncode, proc.stdout) == (0, "through fd 3\nnone\n"), proc.stderr
    proc = subprocess.run(sdc.argv("run", "--rm", image, "sh", "-c", "ls /proc/self/fd/3 2>/dev/null || echo closed"),
                          capture_output=True, text=True, env=sdc.env())  # fmt: skip
    assert proc.stdout == "closed\n"  # nothing of sdc's reaches it unasked
    for bad in (["--preserve-fds", "1", "-d"], ["--preserve-fds", "-1"], ["--preserve-fds", "40"]):
        refused = sdc("run", "--rm", *bad, image, "true")
        assert refused.returncode == 125 and len(refused.stderr.splitlines()) == 1, (bad, refused.stderr)
    # systemd's socket activation: a listening socket passed on, LISTEN_PID its PID 1's
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = ('echo "$LISTEN_FDS $LISTEN_PID $LISTEN_FDNAMES"; '
              'readlink /proc/self/fd/3 | cut -d: -f1')  # fmt: skip
    passed = [f"-E{key}" for key in sdc.env() if key.startswith("SDC_") or key in ("PATH", "PYTHONPATH")]
    activated = subprocess.Popen(["systemd-socket-activate", "-l", f"127.0.0.1:{port}", "--fdname", "web", *passed,
                                  *sdc.argv("run", "--rm", image, "sh", "-c", script)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=sdc.env())  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        out, err = activated.communicate(timeout=60)
    finally:
        activated.kill()
    assert out == "1 1 web\nsocket\n", (out, err)


def test_attach_chooses_the_streams_that_are_yours(sdc: Sdc, image: str, name: str) -> None:
    """-a as Docker's: only the streams named are the caller's; the others go to the log alone."""
    both = ["sh", "-c", "echo out; echo err >&2"]
    proc = sdc("run", "--name", name, "-a", "stdout", image, *both)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "out\n", "")
    deadline = time.monotonic() + 10  # (journald takes the launcher's copies a moment after the end)
    while sorted(sdc.ok("logs", name).split()) != ["err", "out"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sorted(sdc.ok("logs", name).split()) == ["err", "out"]  # kept, as ever
    proc = sdc("run", "--rm", "--attach", "STDERR", image, *both)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "err\n")
    proc = sdc("run", "--rm", "-a", "stdin", "-a", "stdout", image, "cat", input=b"typed\n")
    assert (proc.returncode, proc.stdout) == (0, "typed\n")  # -a stdin: as -i
    for bad, says in ((["-a", "stdout", "-d"], "cannot be combined"), (["-a", "tty"], "invalid --attach")):
        proc = sdc("run", "--rm", *bad, image, "true")
        assert proc.returncode == 125 and says in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    sdc.ok("rm", name)
