"""Quadlet's .container files as services (issue 27): sdc's generator, on the real systemd."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sdcontainer import containers
from sdcontainer.paths import Paths
from sdcontainer.quadlet import generator
from tests.integration.conftest import Sdc, store_state, systemctl, unit_property
from tests.integration.test_networks import fetch, leftovers

UNITS = generator.SEARCH_DIRS[1]  # /etc/sdc/systemd: the administrator's


@pytest.fixture
def quadlet(sdc: Sdc) -> Iterator[Path]:
    """sdc's generator installed (as `pip install` users do it), and UNITS for the test's files,
    all of them gone after it, units stopped and systemd reloaded."""
    sdc.ok("quadlet", "--install-generator")
    UNITS.mkdir(parents=True, exist_ok=True)
    before = set(UNITS.iterdir())
    yield UNITS
    made = set(UNITS.iterdir()) - before
    for path in made:
        if path.suffix in (".container", ".kube", ".volume", ".network", ".pod", ".image", ".build"):
            stem = path.name.removesuffix(path.suffix)
            systemctl("stop", f"{stem}.service" if path.suffix in (".container", ".kube") else
                      f"{stem}-{path.suffix[1:]}.service")  # fmt: skip
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    sdc("quadlet", "--remove-generator")
    systemctl("daemon-reload")


def reload() -> None:
    proc = systemctl("daemon-reload")
    assert proc.returncode == 0, proc.stderr


def test_a_container_file_runs_as_its_service(sdc: Sdc, image: str, name: str, store: Path, quadlet: Path,
                                              notify_tool: Path) -> None:  # fmt: skip
    """The issue's web.container: image, a published port, a named volume, environment, a health
    check and Notify=true; daemon-reload makes the service, start runs it with the container's
    PID 1 its main process and no process of sdc's, stop removes the container, and the
    volume stays."""
    before = store_state(store)
    volume = f"{name}-data"
    (quadlet / "web.container").write_text(f"""\
# The issue's example, on the test's store and image
[Unit]
Description=web of {name}

[Container]
GlobalArgs=--root {store}
Image={image}
ContainerName={name}
Network=bridge
PublishPort=8091:80
Volume={volume}:/www
Volume={notify_tool}:/usr/bin/notify:ro
Environment=MODE=prod "GREETING=hello world"
HealthCmd=wget -qO- 127.0.0.1:80/
HealthInterval=1s
Notify=true
RunInit=true
Exec=sh -c 'echo "$$MODE $$GREETING" > /www/index.html && notify READY=1 && exec httpd -f -p 80 -h /www'

[Service]
TimeoutStopSec=5

[Install]
WantedBy=multi-user.target
""")
    reload()
    assert Path("/run/systemd/generator/multi-user.target.wants/web.service").is_symlink()  # [Install]
    start = systemctl("start", "web.service")
    assert start.returncode == 0, start.stderr + systemctl("status", "web.service").stdout
    try:
        assert unit_property("web.service", "ActiveState") == "active"
        assert fetch("http://127.0.0.1:8091/") == "prod hello world\n"
        cid = json.loads(sdc.ok("inspect", name))[0]["Id"]
        main = int(unit_property("web.service", "MainPID"))
        assert Path(f"/proc/{main}/cmdline").read_bytes().split(b"\0")[0] == b"/dev/init"  # its PID 1 (RunInit=)
        procs = Path(f"/sys/fs/cgroup/systemd{unit_property('web.service', 'ControlGroup')}/cgroup.procs")
        commands = {Path(f"/proc/{pid}/comm").read_text().strip() for pid in procs.read_text().split()}
        assert not commands & {"python3", "python", "sdc"}, commands
        listed = {c["Name"]: c for c in json.loads(sdc.ok("ps", "--format", "json"))}
        assert listed[name]["State"] == "running", listed
        deadline = time.monotonic() + 20
        while json.loads(sdc.ok("inspect", name))[0]["State"].get("Health", {}).get("Status") != "healthy":
            assert time.monotonic() < deadline, (sdc.ok("inspect", name), systemctl("status", "web.service").stdout)
            time.sleep(0.5)
    finally:
        stop = systemctl("stop", "web.service")
    assert stop.returncode == 0, stop.stderr
    assert unit_property("web.service", "ActiveState") == "inactive", systemctl("status", "web.service").stdout
    assert name not in sdc.ok("ps", "-a", "--format", "{{.Names}}").split()  # removed as it stopped (Podman's --rm)
    assert volume in sdc.ok("volume", "ls", "--format", "{{.Name}}").split()  # its data kept
    assert leftovers(cid) == []  # its namespace, lease, published port, veth and rules gone with it
    sdc.ok("volume", "rm", volume)
    assert store_state(store) == before


def test_a_broken_file_is_said_and_skipped_and_the_others_start(sdc: Sdc, image: str, store: Path, quadlet: Path,
                                                                tmp_path: Path) -> None:  # fmt: skip
    (quadlet / "broken.container").write_text(f"[Container]\nGlobalArgs=--root {store}\nImage={image}\n"
                                              "Sysctl=net.ipv4.ip_forward=1\n")  # fmt: skip
    (quadlet / "unquoted.container").write_text("[Container]\nImage=x\nExec=sh -c 'echo\n")
    (quadlet / "fine.container").write_text(f"[Container]\nGlobalArgs=--root {store}\nImage={image}\n"
                                            "Network=none\nExec=sleep 1000\n")  # fmt: skip
    reload()
    assert systemctl("cat", "broken.service").returncode != 0
    assert systemctl("cat", "unquoted.service").returncode != 0
    started = systemctl("start", "fine.service")
    assert started.returncode == 0, started.stderr
    assert unit_property("fine.service", "ActiveState") == "active"
    systemctl("stop", "fine.service")
    # what the generator says at each reload (the journal's, here its stderr) names file, line and key
    out = str(tmp_path)
    proc = subprocess.run([str(generator.SYSTEM_GENERATORS / generator.GENERATOR), out, out, out],
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0
    assert f"{quadlet}/broken.container:4: Sysctl= is not taken by sdc" in proc.stderr, proc.stderr
    assert f"{quadlet}/unquoted.container:3: Exec= an open ' quote" in proc.stderr, proc.stderr
    assert [n for n in sorted(os.listdir(out)) if not n.endswith(".mount")] == ["fine.service"]  # (and a pool's)
    dryrun = sdc("quadlet", "--dryrun")
    assert dryrun.returncode == 1 and "---fine.service---" in dryrun.stdout
    assert "broken.container:4: Sysctl=" in dryrun.stderr



def test_sdcs_commands_act_through_the_unit(sdc: Sdc, image: str, name: str, store: Path, quadlet: Path) -> None:
    """stop, restart, rm -f, logs and rename on a Quadlet file's container, whose unit restarts it
    (Restart=always): each through the unit, as systemctl would; a run's leftover (its ExecStopPost
    never ran: a power cut) is replaced by the next start without a word to systemd."""
    before = store_state(store)
    command = "Exec=sh -c 'echo out of $$HOSTNAME; exec sleep 1000'"
    (quadlet / "job.container").write_text(f"[Container]\nGlobalArgs=--root {store}\nImage={image}\nNetwork=none\n"
                                           f"ContainerName={name}\n{command}\n[Service]\nRestart=always\nRestartSec=1\n")
    reload()
    assert systemctl("start", "job.service").returncode == 0
    first = json.loads(sdc.ok("inspect", name))[0]["Id"]
    deadline = time.monotonic() + 10
    while "out of" not in sdc.ok("logs", name):
        assert time.monotonic() < deadline, sdc.ok("logs", name)
        time.sleep(0.2)
    assert sdc.ok("logs", name) == f"out of {name}\n"  # its output alone: not sdc's own at its start
    renamed = sdc("rename", name, f"{name}-x")
    assert renamed.returncode == 125 and "a Quadlet file's" in renamed.stderr
    sdc.ok("restart", "-t", "1", name)  # the unit again: its container made anew
    assert unit_property("job.service", "ActiveState") == "active"
    second = json.loads(sdc.ok("inspect", name))[0]["Id"]
    assert second != first
    sdc.ok("stop", "-t", "1", name)  # a stop job: Restart=always does not bring it back
    time.sleep(1.5)
    assert unit_property("job.service", "ActiveState") in ("inactive", "failed")
    assert name not in sdc.ok("ps", "-a", "--format", "{{.Names}}").split()
    assert systemctl("start", "job.service").returncode == 0
    # a leftover, as a power cut leaves one: its unit down, its ExecStopPost kept from removing it
    # (another command held it), and no sdc command since to settle it
    held = containers.take_name_lock(Paths(store), name)
    assert held is not None
    try:
        systemctl("stop", "job.service")
    finally:
        os.close(held)
    assert (store / "containers" / name).is_dir()
    assert systemctl("start", "job.service").returncode == 0, systemctl("status", "job.service").stdout
    assert json.loads(sdc.ok("inspect", name))[0]["Id"] not in (first, second)
    assert unit_property("job.service", "ActiveState") == "active"
    sdc.ok("rm", "-f", name)  # and removed through its unit, which does not come back
    time.sleep(1.5)
    assert unit_property("job.service", "ActiveState") in ("inactive", "failed")
    systemctl("reset-failed", "job.service")
    assert store_state(store) == before


def test_a_kube_file_plays_its_yaml_as_a_service(sdc: Sdc, image: str, name: str, store: Path, quadlet: Path,
                                                 tmp_path: Path) -> None:  # fmt: skip
    """A .kube file: its service plays the YAML (kube play --replace) and stays active with no
    process of its own; its pod's containers are units of their own; stop takes the pod down."""
    before = store_state(store)
    (tmp_path / "app.yaml").write_text(f"""\
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  containers:
  - name: web
    image: {image}
    command: [sh, -c, "echo served by a .kube file > /index.html; exec httpd -f -p 80 -h /"]
    ports: [{{containerPort: 80, hostPort: 8099, hostIP: 127.0.0.1}}]
""")
    (quadlet / f"{name}.kube").write_text(f"[Kube]\nGlobalArgs=--root {store}\nYaml={tmp_path / 'app.yaml'}\n"
                                          "Network=bridge\n")  # fmt: skip
    reload()
    unit = f"{name}.service"
    started = systemctl("start", unit)
    assert started.returncode == 0, started.stderr + systemctl("status", unit).stdout
    assert fetch("http://127.0.0.1:8099/") == "served by a .kube file\n"
    assert unit_property(unit, "ActiveState") == "active" and unit_property(unit, "MainPID") == "0"
    assert systemctl("is-active", f"sdc-{name}-web.service", f"sdc-{name}-pod.service").stdout.split() == \
        ["active", "active"]  # fmt: skip
    assert systemctl("stop", unit).returncode == 0
    assert sdc("pod", "inspect", name).returncode != 0 and sdc("inspect", f"{name}-web").returncode != 0
    assert store_state(store) == before


def test_volume_and_network_files_are_made_before_the_container_that_names_them(
        sdc: Sdc, image: str, name: str, store: Path, quadlet: Path) -> None:  # fmt: skip
    """A .container naming a .volume and a .network file (Podman's way): starting its service
    starts theirs first (Requires=, After=), which make the volume and the network; the network
    goes when its service stops (NetworkDeleteOnStop=), the volume stays."""
    net, volume = f"{name[:30]}-n", f"{name[:30]}-v"
    (quadlet / f"{name}.volume").write_text(f"[Volume]\nGlobalArgs=--root {store}\nVolumeName={volume}\n")
    (quadlet / f"{name}.network").write_text(f"[Network]\nGlobalArgs=--root {store}\nNetworkName={net}\n"
                                             "NetworkDeleteOnStop=true\n")  # fmt: skip
    (quadlet / f"{name}.container").write_text(f"[Container]\nGlobalArgs=--root {store}\nImage={image}\n"
                                               f"ContainerName={name}\nNetwork={name}.network\nStopTimeout=1\n"
                                               f"Volume={name}.volume:/data\nExec=sh -c 'echo kept > /data/f; "
                                               "exec sleep 1000'\n")  # fmt: skip
    reload()
    try:
        started = systemctl("start", f"{name}.service")
        assert started.returncode == 0, started.stderr + systemctl("status", f"{name}.service").stdout
        assert systemctl("is-active", f"{name}-volume.service", f"{name}-network.service").stdout.split() == \
            ["active", "active"]  # fmt: skip
        [info] = json.loads(sdc.ok("inspect", name))
        assert info["HostConfig"]["NetworkMode"] == net, info["HostConfig"]
        assert sdc.ok("exec", name, "cat", "/data/f") == "kept\n"
        assert systemctl("stop", f"{name}.service", f"{name}-network.service", f"{name}-volume.service").returncode == 0
        assert sdc("network", "inspect", net).returncode != 0  # (NetworkDeleteOnStop=)
        assert volume in sdc.ok("volume", "ls", "-q").split()
    finally:
        sdc("rm", "-f", name)
        sdc("network", "rm", "-f", net)
        sdc("volume", "rm", "-f", volume)


def _wait_inactive(unit: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while (state := unit_property(unit, "ActiveState")) not in ("inactive", "failed") and time.monotonic() < deadline:
        time.sleep(0.1)
    return state


def _wait_active(units: list[str]) -> None:
    deadline = time.monotonic() + 30
    while systemctl("is-active", *units).stdout.split() != ["active"] * len(units) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert systemctl("is-active", *units).stdout.split() == ["active"] * len(units)


def test_a_pod_file_holds_its_containers(sdc: Sdc, image: str, name: str, store: Path, quadlet: Path) -> None:
    """A .pod file and two .container files with Pod= it: starting the pod's service starts both
    (Wants=), which reach each other on 127.0.0.1, a port published on the pod answers, and the
    pod's service keeps no process; the pod stops once its last container has (ExitPolicy=stop),
    and a stop of its service stops both; either way nothing is left."""
    before = store_state(store)
    pod, unit = f"systemd-{name}", f"{name}-pod.service"
    (quadlet / f"{name}.pod").write_text(f"[Pod]\nGlobalArgs=--root {store}\nNetwork=bridge\n"
                                         "PublishPort=127.0.0.1:8098:80\n")  # fmt: skip
    for member, command in (("web", "echo served in a .pod > /index.html; exec httpd -f -p 80 -h /"),
                            ("db", "exec sleep 1000")):  # fmt: skip
        (quadlet / f"{name}-{member}.container").write_text(
            f"[Container]\nGlobalArgs=--root {store}\nImage={image}\nContainerName={name}-{member}\n"
            f"Pod={name}.pod\nRunInit=true\nExec=sh -c '{command}'\n")  # fmt: skip
    reload()
    members = [f"{name}-web.service", f"{name}-db.service"]
    try:
        started = systemctl("start", unit)
        assert started.returncode == 0, started.stderr + systemctl("status", unit).stdout
        _wait_active(members)
        assert unit_property(unit, "MainPID") == "0"
        assert fetch("http://127.0.0.1:8098/") == "served in a .pod\n"
        assert sdc.ok("exec", f"{name}-db", "wget", "-qO-", "http://127.0.0.1:80/") == "served in a .pod\n"
        [info] = json.loads(sdc.ok("pod", "inspect", pod))
        assert info["Units"]["Service"] == unit and info["NumContainers"] == 2, info
        assert sorted(sdc.ok("ps", "--filter", f"pod={pod}", "--format", "{{.Names}}").split()) == \
            [f"{name}-db", f"{name}-web"]  # fmt: skip
        assert systemctl("stop", members[0]).returncode == 0
        assert unit_property(unit, "ActiveState") == "active"  # (db still runs in it)
        assert systemctl("stop", members[1]).returncode == 0
        assert systemctl("is-active", *members).stdout.split() == ["inactive", "inactive"]  # (ended by their signal)
        assert _wait_inactive(unit) == "inactive"  # its last container gone: the pod stops (ExitPolicy=stop)
        assert sdc("pod", "inspect", pod).returncode != 0
        assert not leftovers(info["Id"]) and store_state(store) == before
        started = systemctl("start", unit)
        assert started.returncode == 0, started.stderr
        [again] = json.loads(sdc.ok("pod", "inspect", pod))
        _wait_active(members)
        sdc.ok("run", "-d", "--init", "--pod", pod, "--name", f"{name}-extra", image, "sleep", "1000")  # (by hand)
        assert unit_property(f"sdc-{name}-extra.service", "BindsTo") == unit
        assert systemctl("stop", unit).returncode == 0  # (Podman's `pod rm --force`: its containers go with it)
        assert systemctl("is-active", *members).stdout.split() == ["inactive", "inactive"]
        assert sdc("pod", "inspect", pod).returncode != 0 and sdc("inspect", f"{name}-web").returncode != 0
        assert sdc("inspect", f"{name}-extra").returncode != 0
        assert not leftovers(again["Id"]) and store_state(store) == before
    finally:
        systemctl("stop", unit)


def test_an_image_file_pulls_what_its_container_runs(sdc: Sdc, image: str, name: str, store: Path, quadlet: Path,
                                                     tmp_path: Path) -> None:  # fmt: skip
    """An .image file pulls its image from a registry (on 127.0.0.1) and tags it ImageTag=; a
    .container's Image= naming it requires its unit, and runs that image."""
    from tests.integration import registry

    tagged = f"localhost/{name}:tagged"
    with registry.serve(tmp_path / "registry") as address:
        ref = f"{address}/team/{name}:1"
        sdc.ok("push", image, ref)
        (quadlet / f"{name}.image").write_text(f"[Image]\nGlobalArgs=--root {store}\nImage=docker://{ref}\n"
                                               f"ImageTag={tagged}\nTLSVerify=false\n")  # fmt: skip
        (quadlet / f"{name}.container").write_text(f"[Container]\nGlobalArgs=--root {store}\nImage={name}.image\n"
                                                   f"ContainerName={name}\nRunInit=true\nExec=sleep 1000\n")
        reload()
        try:
            _start(name, f"{name}-image.service")
            assert unit_property(f"{name}-image.service", "ActiveState") == "active"
            assert unit_property(f"{name}.service", "Requires").split().count(f"{name}-image.service") == 1
            [info] = json.loads(sdc.ok("inspect", name))
            assert info["Config"]["Image"] == tagged, info["Config"]
            assert info["Image"] == sdc.ok("image", "inspect", "--format", "{{.Id}}", ref).strip()
        finally:
            systemctl("stop", f"{name}.service", f"{name}-image.service")
            sdc("rmi", tagged, ref)


def test_a_build_file_builds_what_its_container_runs(sdc: Sdc, image: str, name: str, store: Path, quadlet: Path,
                                                     tmp_path: Path) -> None:  # fmt: skip
    """A .build file builds its image with `sdc build` (its unit a oneshot that does not stay
    active: each start builds again, from the cache); a .container's Image= naming it runs it."""
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Containerfile").write_text("FROM bb\nCOPY note /note\nRUN echo built > /built\n")
    (context / "note").write_text("one\n")
    tag = f"localhost/{name}:built"
    (quadlet / f"{name}.build").write_text(f"[Build]\nGlobalArgs=--root {store}\nImageTag={tag}\n"
                                           f"SetWorkingDirectory={context}\nNetwork=none\n")  # fmt: skip
    (quadlet / f"{name}.container").write_text(f"[Container]\nGlobalArgs=--root {store}\nImage={name}.build\n"
                                               f"ContainerName={name}\nRunInit=true\nExec=sleep 1000\n")
    reload()
    try:
        _start(name, f"{name}-build.service")
        assert unit_property(f"{name}-build.service", "Result") == "success"
        assert unit_property(f"{name}-build.service", "ActiveState") == "inactive"  # (Podman's: not kept active)
        assert sdc.ok("exec", name, "cat", "/built", "/note") == "built\none\n"
        (context / "note").write_text("two\n")  # (the next start builds again: the COPY sees it)
        restarted = systemctl("restart", f"{name}.service")
        assert restarted.returncode == 0, restarted.stderr
        assert sdc.ok("exec", name, "cat", "/note") == "two\n"
    finally:
        systemctl("stop", f"{name}.service")
        sdc("rmi", tag)


def _start(name: str, needed: str) -> None:
    """name.service started (and the unit it needs, needed, with it: its status said if it failed)."""
    started = systemctl("start", f"{name}.service")
    assert started.returncode == 0, started.stderr + systemctl("status", needed).stdout
