"""--format as Go templates, inspect in Docker's shape, labels, ps and images filters (issue 25)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.integration.conftest import Sdc, unit_property


def test_inspect_templates_print_what_docker_prints(sdc: Sdc, image: str, name: str) -> None:
    sdc.ok("run", "-d", "--name", name, "-e", "A=1", "-m", "64m", image, "sleep", "1000")
    pid = int(unit_property(f"sdc-{name}.service", "MainPID"))
    out = sdc.ok("inspect", "--format", "{{.State.Pid}} {{.State.Running}} {{json .Config.Env}}", name)
    shown_pid, running, env = out.rstrip("\n").split(" ", 2)
    assert int(shown_pid) == pid and running == "true" and "A=1" in json.loads(env), out
    assert any(e.startswith("PATH=") for e in json.loads(env))  # what the container has, not only -e's
    [info] = json.loads(sdc.ok("inspect", name))
    state = info["State"]
    assert state["Status"] == "running" and state["Pid"] == pid and state["ExitCode"] == 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", state["StartedAt"]), state
    assert state["FinishedAt"] == "0001-01-01T00:00:00Z"
    assert info["Config"]["Cmd"] == ["sleep", "1000"] and info["Config"]["Image"] == image
    assert info["Image"].startswith("sha256:") and info["HostConfig"]["Memory"] == 64 << 20
    assert info["HostConfig"]["PidsLimit"] is None and info["HostConfig"]["NanoCpus"] == 0  # unset: Docker's words
    keys = json.dumps({k: info[k] for k in ("State", "Config", "HostConfig")})
    assert not re.search(r'"[a-z]+_[a-z_]+":', keys), keys  # Docker's names, no snake_case
    assert sdc.ok("inspect", "-f", "{{.Name}} {{.HostConfig.RestartPolicy.Name}}", name) == f"{name} no\n"
    sdc.ok("stop", "-t", "0", name)
    stopped = sdc.ok("inspect", "-f", "{{.State.Status}} {{.State.Running}} {{.State.Pid}} {{.State.ExitCode}}", name)
    assert stopped == "exited false 0 137\n"
    assert sdc.ok("inspect", "-f", "{{.State.FinishedAt}}", name) != "0001-01-01T00:00:00Z\n"


def test_a_template_touching_anything_undocumented_is_an_error(sdc: Sdc, image: str, name: str) -> None:
    sdc.ok("create", "--name", name, image, "true")
    for template in ("{{.Nope}}", "{{.State.Nope}}", "{{.Config.__class__}}", "{{.Name.upper}}"):
        proc = sdc("inspect", "--format", template, name)
        assert proc.returncode == 125 and proc.stdout == "", (template, proc)
        assert len(proc.stderr.splitlines()) == 1 and "can't evaluate field" in proc.stderr, proc.stderr
    for bad in ("{{.Name", "{{if .Name}}", "{{call .Name}}"):
        proc = sdc("ps", "-a", "--format", bad)
        assert proc.returncode == 125 and len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr
    assert sdc.ok("inspect", "-f", "{{.Config.Labels.nope}}", name) == "<no value>\n"  # a map's key: Go's


def test_ps_table_templates_as_docker_prints_them(sdc: Sdc, image: str, name: str) -> None:
    sdc.ok("run", "-d", "--name", name, image, "sleep", "1000")
    sdc.ok("create", "--name", f"{name}-longer-name", image, "true")
    try:
        out = sdc.ok("ps", "-a", "--filter", f"name={name}", "--format", "table {{.Names}}\\t{{.Status}}")
        lines = out.splitlines()
        width = max(len(name) + len("-longer-name"), len("NAMES")) + 3  # Docker's tabwriter: padding 3
        assert lines[0] == "NAMES".ljust(width) + "STATUS", out
        assert sorted(lines[1:]) == sorted([f"{name}-longer-name".ljust(width) + "Created",
                                            name.ljust(width) + "Up Less than a second"]) or all(
            line[:width].rstrip() in (name, f"{name}-longer-name") for line in lines[1:]), out  # fmt: skip
        assert {line[width:] for line in lines[1:]} <= {"Created", "Up Less than a second", "Up 1 second",
                                                         "Up 2 seconds", "Up 3 seconds"}, out  # fmt: skip
        assert sdc.ok("ps", "--filter", f"name={name}", "--format", "{{.Names}}") == f"{name}\n"
        row = json.loads(sdc.ok("ps", "--filter", f"name=^{name}$", "--format", "{{json .}}"))
        assert row["Names"] == name and row["State"] == "running" and row["Command"] == '"sleep 1000"'
        assert row["ID"] == sdc.ok("inspect", "-f", "{{.Id}}", name)[:12]
        assert sdc.ok("ps", "--filter", f"name={name}", "--noheading", "--format", "table {{.Names}}") == f"{name}\n"
        full = sdc.ok("ps", "--filter", f"name=^{name}$", "--no-trunc", "-q")
        assert len(full.strip()) == 64
    finally:
        sdc("rm", "-f", f"{name}-longer-name")


def test_labels_on_containers_filters_and_templates(sdc: Sdc, image: str, name: str, tmp_path: Path) -> None:
    labels = tmp_path / "labels"
    labels.write_text("# a comment\ncom.example.team=web\nempty\n")
    sdc.ok("run", "-d", "--name", name, "-l", "tier=front", "--label", "com.example.team=ops",
           "--label-file", str(labels), image, "sleep", "1000")  # fmt: skip
    [info] = json.loads(sdc.ok("inspect", name))
    assert info["Config"]["Labels"] == {"com.example.team": "ops", "empty": "", "tier": "front"}  # -l after the file
    assert sdc.ok("ps", "--filter", "label=tier=front", "--format", "{{.Names}}").split() == [name]
    assert name not in sdc.ok("ps", "--filter", "label=tier=back", "--format", "{{.Names}}").split()
    assert name in sdc.ok("ps", "--filter", "label=empty", "--format", "{{.Names}}").split()
    assert sdc.ok("ps", "--filter", f"name={name}", "--format", '{{.Label "com.example.team"}}') == "ops\n"
    assert sdc.ok("inspect", "-f", '{{index .Config.Labels "tier"}}', name) == "front\n"
    for bad in (["-l", "=x"], ["-l", "a\nb=c"], ["--label-file", str(tmp_path / "nope")]):
        proc = sdc("run", "--rm", *bad, image, "true")
        assert proc.returncode == 125 and len(proc.stderr.splitlines()) == 1, proc.stderr


def test_ps_filters_and_counts(sdc: Sdc, image: str, name: str) -> None:
    first, second = f"{name}-a", f"{name}-b"
    try:
        assert sdc("run", "--name", first, image, "sh", "-c", "exit 3").returncode == 3
        sdc.ok("run", "-d", "--name", second, image, "sleep", "1000")
        names = lambda *flags: sdc.ok("ps", *flags, "--format", "{{.Names}}").split()  # noqa: E731
        assert names("--filter", f"name={name}") == [second]
        assert names("-a", "--filter", f"name={name}") == [second, first]  # newest first
        assert names("-a", "--filter", f"name={name}", "--sort", "names") == [first, second]
        assert names("--filter", "status=exited", "--filter", f"name={name}") == [first]  # -a implied
        assert names("-a", "--filter", "exited=3", "--filter", f"name={name}") == [first]
        assert names("-a", "--filter", "exited=0", "--filter", f"name={name}") == []
        assert names("-a", "--filter", f"ancestor={image}", "--filter", f"name={name}") == [second, first]
        assert names("-a", "--filter", f"since={first}", "--filter", f"name={name}") == [second]
        assert names("-a", "--filter", f"before={second}", "--filter", f"name={name}") == [first]
        assert len(names("-n", "1")) == 1 and names("-l") == names("-n", "1")
        for bad in ("nope=1", "status=sleeping", "exited=x", "before=no-such-container", "name=("):
            proc = sdc("ps", "--filter", bad)
            assert proc.returncode != 0 and len(proc.stderr.splitlines()) == 1, (bad, proc.stderr)
    finally:
        sdc("rm", "-f", first, second)


def test_images_templates_filters_and_rmi_all(fresh_sdc: Sdc, busybox_tar: Path) -> None:
    sdc = fresh_sdc
    sdc.ok("import", "--change", "LABEL stage=one", str(busybox_tar), "bb:one")
    sdc.ok("tag", "bb:one", "other/name:two")
    listed = sdc.ok("images", "--format", "{{.Repository}}:{{.Tag}}").split()
    assert sorted(listed) == ["bb:one", "other/name:two"]
    assert sdc.ok("images", "--filter", "reference=bb*", "--format", "{{.Repository}}").split() == ["bb"]
    assert sdc.ok("images", "bb", "--format", "{{.Tag}}").split() == ["one"]
    assert sdc.ok("images", "--filter", "label=stage=one", "-q") != ""
    assert sdc.ok("images", "--filter", "dangling=true", "-q") == ""
    table = sdc.ok("images", "--format", "table {{.Repository}}\\t{{.Tag}}").splitlines()
    assert table[0].split() == ["REPOSITORY", "TAG"] and len(table) == 3
    assert sdc.ok("image", "inspect", "-f", "{{.Config.Labels.stage}}", "bb:one") == "one\n"
    sdc.ok("create", "--name", "user", "bb:one", "true")
    proc = sdc("rmi", "-a")
    assert proc.returncode != 0 and "used by container user" in proc.stderr  # the one in use stays, said
    sdc.ok("rm", "user")
    sdc.ok("rmi", "-a")
    assert sdc.ok("images", "-q") == ""
    assert sdc("rmi").returncode != 0


def test_volume_network_and_info_templates(sdc: Sdc, name: str) -> None:
    sdc.ok("volume", "create", "--label", "k=v", name)
    try:
        assert sdc.ok("volume", "ls", "--filter", f"name={name}", "--format", "{{.Name}} {{.Driver}} {{.Labels}}") \
            == f"{name} local k=v\n"  # fmt: skip
        assert sdc.ok("volume", "inspect", "-f", "{{.Name}} {{.Labels.k}}", name) == f"{name} v\n"
    finally:
        sdc("volume", "rm", name)
    assert "sdc" in sdc.ok("network", "ls", "--format", "{{.Name}}").split()  # the default network (bridge)
    assert sdc.ok("info", "--format", "{{.Host.CgroupManager}} {{.Store.GraphDriverName}}").split()[0] == "systemd"
    assert sdc.ok("version", "--format", "{{.Client.Os}}") == "linux\n"
