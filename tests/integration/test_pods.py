"""Pods (api/pods.py, podns.py): containers sharing a network, IPC and UTS namespaces, held by
bind mounts with no process; a pod's target stops them all."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.integration.conftest import Sdc, store_state, systemctl, unit_property

WEB = "mkdir /www; echo hi from the pod > /www/index.html; exec httpd -f -p 80 -h /www"


def status(sdc: Sdc, container: str) -> str:
    [info] = json.loads(sdc.ok("inspect", container))
    return str(info["State"]["Status"])


def fetch(port: int) -> str:
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
                return str(reply.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def namespaces(sdc: Sdc, container: str) -> list[str]:
    return sdc.ok("exec", container, "sh", "-c", "for n in net ipc uts pid; do readlink /proc/self/ns/$n; done").split()


def held_by_pod(pod_id: str) -> list[str]:
    """What of a pod's namespaces is there: their files."""
    return [p for p in (f"/run/sdc/netns/{pod_id}", f"/run/sdc/podns/{pod_id}.ipc", f"/run/sdc/podns/{pod_id}.uts")
            if os.path.exists(p)]  # fmt: skip


def processes_naming(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(f"{entry.name}: {cmdline}")
    return found


def test_a_pod_of_two_containers(sdc: Sdc, image: str, name: str, store: Path) -> None:
    """The issue's must-show: two containers reaching each other on 127.0.0.1, a port published on
    the pod answering from the host, one IPC and UTS namespace (named by the pod), PID namespaces
    of their own; no process of sdc's for the pod; `systemctl stop` of the pod's target stops
    both, `pod start` starts them again; `pod rm -f` leaves nothing."""
    pod, web, client = f"{name}-p", f"{name}-web", f"{name}-cli"
    target, service = f"sdc-{pod}-pod.target", f"sdc-{pod}-pod.service"
    before = store_state(store)
    pod_id = sdc.ok("pod", "create", "--name", pod, "--network", "bridge", "-p", "127.0.0.1:8097:80").strip()
    try:
        assert len(pod_id) == 64 and held_by_pod(pod_id) == []  # made, not started
        # two at once: one starts the pod's unit, the other waits for it
        both = [subprocess.Popen(sdc.argv("run", "-d", "--pod", pod, "--name", c, image, *argv), env=sdc.env(),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                for c, argv in ((web, ["sh", "-c", WEB]), (client, ["sleep", "1000"]))]  # fmt: skip
        for proc in both:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
        assert sdc.ok("exec", client, "wget", "-qO-", "http://127.0.0.1/") == "hi from the pod\n"
        assert fetch(8097) == "hi from the pod\n"
        ours, theirs = namespaces(sdc, web), namespaces(sdc, client)
        assert ours[:3] == theirs[:3] and ours[3] != theirs[3], (ours, theirs)
        assert sdc.ok("exec", web, "hostname") == sdc.ok("exec", client, "hostname") == f"{pod}\n"
        assert client in sdc.ok("exec", client, "cat", "/etc/hosts")
        assert systemctl("is-active", service, target).stdout.split() == ["active", "active"]
        escaped = pod.replace("-", "\\x2d")
        assert unit_property(f"sdc-{web}.service", "Slice") == f"machine-sdc-pod_{escaped}.slice"
        assert target in unit_property(f"sdc-{web}.service", "PartOf")
        assert service in unit_property(f"sdc-{client}.service", "BindsTo")
        # the pod's namespaces are held by mounts: its unit has no process, nor has sdc one anywhere
        assert unit_property(service, "MainPID") == "0" and unit_property(service, "SubState") == "exited"
        assert processes_naming(pod_id) == [] and processes_naming(f"pods/{pod}") == []
        listed = sdc.ok("ps", "--pod")
        assert "POD" in listed.splitlines()[0] and all(pod in line for line in listed.splitlines() if web in line)
        assert sorted(sdc.ok("ps", "-q", "--filter", f"pod={pod}", "--no-trunc").split()) == sorted(
            json.loads(sdc.ok("inspect", "--format", "{{json .Id}}", c)) for c in (web, client))
        sdc.ok("pause", client)  # its cgroup is in the pod's slice
        assert status(sdc, client) == "paused" and "(Paused)" in sdc.ok("ps", "--filter", f"name={client}")
        sdc.ok("unpause", client)
        assert status(sdc, client) == "running" and "sleep 1000" in sdc.ok("top", client)
        [info] = json.loads(sdc.ok("pod", "inspect", pod))
        assert info["Id"] == pod_id and info["State"] == "Running" and info["NumContainers"] == 2, info
        assert info["InfraConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8097"}]}

        systemctl("stop", target)  # which ends once they have stopped (they are After= it)
        assert status(sdc, web) == status(sdc, client) == "exited"
        assert systemctl("is-active", service).stdout.strip() in ("inactive", "unknown")
        assert held_by_pod(pod_id) == []
        assert f"{pod} " in sdc.ok("pod", "ls") and "Exited" in sdc.ok("pod", "ls")

        assert sdc.ok("pod", "start", pod).strip() == pod_id
        assert status(sdc, web) == status(sdc, client) == "running"
        assert fetch(8097) == "hi from the pod\n"
        sdc.ok("pod", "stop", "-t", "1", pod)
        assert status(sdc, web) == status(sdc, client) == "exited" and held_by_pod(pod_id) == []

        proc = sdc("pod", "rm", pod)
        assert proc.returncode != 0 and proc.stderr.count("\n") == 1 and "has containers" in proc.stderr, proc
        sdc.ok("pod", "start", pod)
        assert sdc.ok("pod", "rm", "-f", pod).strip() == pod_id
        assert held_by_pod(pod_id) == [] and not Path(f"/run/systemd/system/{target}").exists()
        assert sdc("inspect", web).returncode != 0 and sdc("inspect", client).returncode != 0
        assert store_state(store) == before
        # its port is free again
        again = sdc.ok("pod", "create", "--name", pod, "--network", "bridge", "-p", "127.0.0.1:8097:80").strip()
        sdc.ok("pod", "rm", again)
    finally:
        sdc("pod", "rm", "-f", pod)


def test_a_foreground_container_joins_a_running_pod(sdc: Sdc, image: str, name: str) -> None:
    """run --rm --pod: the pod's loopback and hostname; a pod with --network none has loopback
    alone; without --share ipc its containers' IPC namespaces are their own."""
    pod = f"{name}-p"
    sdc.ok("pod", "create", "--name", pod, "--network", "none", "--share", "net,uts", "--hostname", "podhost")
    try:
        sdc.ok("run", "-d", "--pod", pod, "--name", f"{name}-web", image, "sh", "-c", WEB)
        out = sdc.ok("run", "--rm", "--pod", pod, image, "sh", "-c", "wget -qO- http://127.0.0.1/; hostname; "
                     "ls /sys/class/net; readlink /proc/self/ns/ipc")  # fmt: skip
        lines = out.splitlines()
        assert lines[:3] == ["hi from the pod", "podhost", "lo"], out
        assert lines[3] != namespaces(sdc, f"{name}-web")[1]
        assert sdc.ok("ps", "-a", "--filter", f"pod={pod}", "--format", "{{.Names}} {{.Pod}}") == f"{name}-web {pod}\n"
    finally:
        sdc("pod", "rm", "-f", pod)


def test_bad_pod_input_is_one_line_and_leaves_nothing(sdc: Sdc, image: str, name: str, store: Path) -> None:
    pod = f"{name}-p"
    before = store_state(store)
    for argv, says in ((["run", "--rm", "--pod", "nosuchpod", image, "true"], "no such pod"),
                       (["run", "--rm", "--pod", "a/b", image, "true"], "--pod"),
                       (["pod", "create", "--share", "pid", "--name", pod], "PID namespace"),
                       (["pod", "create", "--share", "net,mnt", "--name", pod], "--share"),
                       (["pod", "create", "--network", "none", "-p", "80", "--name", pod], "-p needs a network"),
                       (["pod", "create", "--network", "container:x", "--name", pod], "its own"),
                       (["pod", "create", "--name", "a/b"], "invalid"),
                       (["pod", "rm", "nosuchpod"], "no such pod"),
                       (["pod", "start", "nosuchpod"], "no such pod")):  # fmt: skip
        proc = sdc(*argv)
        assert proc.returncode != 0 and proc.stderr.count("\n") == 1 and says in proc.stderr, (argv, proc)
    assert store_state(store) == before
    sdc.ok("pod", "create", "--name", pod, "--network", "none")
    try:
        for argv, says in ((["-p", "8080:80"], "-p with --pod"), (["--network", "bridge"], "--network with --pod"),
                           (["--hostname", "x"], "--hostname with --pod")):  # fmt: skip
            proc = sdc("run", "--rm", "--pod", pod, *argv, image, "true")
            assert proc.returncode == 125 and proc.stderr.count("\n") == 1 and says in proc.stderr, (argv, proc)
        proc = sdc("pod", "create", "--name", pod, "--network", "none")
        assert proc.returncode != 0 and "already in use" in proc.stderr, proc
        proc = sdc("run", "--rm", "--name", f"{pod}-pod", image, "true")  # its unit would be the pod's
        assert proc.returncode != 0 and "pod's unit" in proc.stderr, proc
        proc = sdc("network", "create", "pod")
        assert proc.returncode != 0 and "invalid network name" in proc.stderr, proc
        sdc.ok("create", "--pod", pod, "--name", name, image, "true")
        for argv, says in ((["rename", name, f"{pod}-pod"], "pod's unit"), (["enable", name], "pod start")):
            proc = sdc(*argv)
            assert proc.returncode != 0 and proc.stderr.count("\n") == 1 and says in proc.stderr, (argv, proc)
        [info] = json.loads(sdc.ok("pod", "inspect", pod))
        assert info["State"] == "Created" and info["Containers"][0]["Name"] == name, info
        sdc.ok("rm", name)
    finally:
        sdc.ok("pod", "rm", pod)
    assert store_state(store) == before


def test_a_network_with_a_pod_on_it_is_not_removed_beneath_it(sdc: Sdc, name: str, net: str) -> None:
    pod = f"{name}-p"
    sdc.ok("network", "create", net)
    sdc.ok("pod", "create", "--name", pod, "--network", net)
    try:
        proc = sdc("network", "rm", net)
        assert proc.returncode != 0 and proc.stderr.count("\n") == 1 and f"has pods: {pod}" in proc.stderr, proc
        assert sdc.ok("network", "prune", "-f") == ""
        assert sdc.ok("network", "rm", "-f", net) == f"{net}\n"
        assert sdc("pod", "inspect", pod).returncode != 0
    finally:
        sdc("pod", "rm", "-f", pod)


def test_a_pod_sharing_ipc_refuses_a_user_namespace(sdc: Sdc, image: str, name: str, subids: None) -> None:
    """Its IPC namespace is the host user namespace's: a container's root of its own could not
    mount its /dev/mqueue there; without --share ipc it runs."""
    pod, apart = f"{name}-p", f"{name}-q"
    sdc.ok("pod", "create", "--name", pod, "--network", "none")
    sdc.ok("pod", "create", "--name", apart, "--network", "none", "--share", "net,uts")
    try:
        proc = sdc("run", "--rm", "--pod", pod, "--userns", "auto", image, "true")
        assert proc.returncode == 125 and proc.stderr.count("\n") == 1 and "--share net,uts" in proc.stderr, proc
        assert sdc.ok("run", "--rm", "--pod", apart, "--userns", "auto", image, "hostname") == f"{apart}\n"
    finally:
        sdc("pod", "rm", "-f", pod, apart)
