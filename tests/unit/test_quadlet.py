"""Quadlet files (issue 27): their syntax, what their [Container] keys mean, the units made of them."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdcontainer.errors import SdcError, UsageError
from sdcontainer.quadlet import container, generator
from sdcontainer.quadlet.unitfile import Setting, parse, quote_words, split_words

# podman-systemd.unit(5)'s [Container] keys: every key Podman's generator takes there (its
# pkg/systemd/quadlet/quadlet.go at c6580b4a, the copy tests/data/podman-quadlet is of).
PODMAN_KEYS = """
AddCapability AddDevice AddHost Annotation AppArmor AutoUpdate CgroupsMode ContainerName ContainersConfModule DNS
DNSOption DNSSearch DropCapability Entrypoint Environment EnvironmentFile EnvironmentHost Exec ExposeHostPort
GIDMap GlobalArgs Group GroupAdd HealthCmd HealthInterval HealthLogDestination HealthMaxLogCount
HealthMaxLogSize HealthOnFailure HealthRetries HealthStartPeriod HealthStartupCmd HealthStartupInterval
HealthStartupRetries HealthStartupSuccess HealthStartupTimeout HealthTimeout HostName HttpProxy IP IP6 Image
Label LogDriver LogOpt Mask Memory Mount Network NetworkAlias NoNewPrivileges Notify PidsLimit Pod PodmanArgs
PublishPort Pull ReadOnly ReadOnlyTmpfs ReloadCmd ReloadSignal RemapGid RemapUid RemapUidSize RemapUsers Retry
RetryDelay Rootfs RunInit SeccompProfile Secret SecurityLabelDisable SecurityLabelFileType SecurityLabelLevel
SecurityLabelNested SecurityLabelType ServiceName ShmSize StartWithPod StopSignal StopTimeout SubGIDMap SubUIDMap
Sysctl Timezone Tmpfs UIDMap Ulimit Unmask User UserNS VolatileTmp Volume WorkingDir
""".split()


def settings(text: str, path: str = "/etc/sdc/systemd/web.container") -> list[Setting]:
    return parse(text, path)


def read(body: str) -> container.ContainerUnit:
    return container.read_container(settings(f"[Container]\nImage=bb\n{body}"), default_name="systemd-%N")


# --- the syntax -------------------------------------------------------------------------------


def test_sections_comments_and_continued_lines() -> None:
    found = settings("# a comment\n; another\n[Unit]\nDescription=a \\\n  # skipped\n  long one\n\n"
                     "[Container]\n  Image = bb  \nExec=echo \\\\\n")  # fmt: skip
    assert [(s.section, s.key, s.value, s.line) for s in found] == [
        ("Unit", "Description", "a    long one", 4),  # the backslash a space, the next line as it is
        ("Container", "Image", "bb", 9),
        ("Container", "Exec", "echo \\\\", 10),  # an escaped backslash continues nothing
    ]


@pytest.mark.parametrize(("text", "said"), [
    ("Image=bb\n", "web.container:1: Image= is outside any section"),
    ("[Container]\nImage\n", "web.container:2: 'Image' is not KEY=VALUE"),
    ("[Container\nImage=bb\n", "web.container:1: invalid section header"),
])  # fmt: skip
def test_what_is_not_the_syntax_names_its_line(text: str, said: str) -> None:
    with pytest.raises(UsageError, match=said):
        settings(text)


def test_words_are_split_as_systemd_splits_them() -> None:
    assert split_words("sh -c 'echo \"hi there\"' x\\x41 \"a\\tb\" '' e\\ f") == [
        "sh", "-c", 'echo "hi there"', "xA", "a\tb", "", "e f"]  # fmt: skip
    with pytest.raises(UsageError, match="an open ' quote"):
        split_words("sh -c 'echo", where="f:3")
    # systemd's other escapes; one it does not know is kept as it is (as systemd keeps it, warning)
    assert split_words("'\\110ello' \\u00e9\\U0001F600 a\\q\\.b") == ["Hello", "\u00e9\U0001F600", "a\\q\\.b"]
    with pytest.raises(UsageError, match="no character an argument can hold"):
        split_words("a\\x00")  # no argument holds a NUL


NO_NUL = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))


@given(st.lists(NO_NUL))
def test_quoted_words_split_back_into_themselves(words: list[str]) -> None:
    assert split_words(quote_words(words)) == words


@given(st.text())
def test_any_value_splits_or_is_a_usage_error_of_one_line(value: str) -> None:
    try:
        words = split_words(value, where="f:1: Exec=")
    except UsageError as exc:
        assert exc.message.startswith("f:1: Exec= ") and "\n" not in exc.message
    else:
        assert all(w for w in words) or "''" in value or '""' in value


@given(st.text())
def test_any_text_parses_or_is_one_usage_error(text: str) -> None:
    try:
        for s in settings(text):
            assert s.section and s.key and "\n" not in s.key
    except UsageError:
        pass


# --- the [Container] keys ---------------------------------------------------------------------


def test_every_key_of_podmans_is_taken_or_refused_by_name() -> None:
    known = set(container.FLAGS) | set(container.OWN) | set(container.REFUSED) | {"Exec"}
    assert set(PODMAN_KEYS) - known == set()
    assert set(container.FLAGS) & set(container.REFUSED) == set()


def test_keys_become_sdc_run_flags() -> None:
    unit = read("PublishPort=8080:80\nPublishPort=127.0.0.1::81\nVolume=data:/srv\n"
                'Environment=A=1 "B=two words"\nAddCapability=CAP_NET_ADMIN CAP_SYS_TIME\nReadOnly=yes\n'
                "Notify=true\nUser=app\nGroup=staff\nExec=sh -c 'echo $$HOME'\nMemory=64m\n"
                "RunInit=false\n")  # fmt: skip
    assert unit.run_args() == [
        "--publish", "8080:80", "--publish", "127.0.0.1::81", "--volume", "data:/srv", "--env", "A=1",
        "--env", "B=two words", "--cap-add", "CAP_NET_ADMIN", "--cap-add", "CAP_SYS_TIME", "--read-only",
        "--memory", "64m", "--sdnotify", "container", "--user", "app:staff",
        "--name", "systemd-%N", "--", "bb", "sh", "-c", "echo $$HOME",
    ]  # fmt: skip


def test_an_empty_value_drops_the_list_before_it_and_a_later_one_wins() -> None:
    unit = read("PublishPort=1:1\nPublishPort=\nPublishPort=2:2\nHostName=a\nHostName=b\nContainerName=web\n")
    assert unit.run_args() == ["--publish", "2:2", "--hostname", "b", "--name", "web", "--", "bb"]


@pytest.mark.parametrize(("body", "said"), [
    ("Sysctl=a=1", "web.container:3: Sysctl= is not taken by sdc"),
    ("Bogus=1", "web.container:3: Bogus= is not a key of \\[Container\\]"),
    ("Notify=healthy", "web.container:3: Notify= healthy is not taken"),
    ("Group=staff", "web.container:3: Group= needs a User="),
    ("NoNewPrivileges=false", "web.container:3: NoNewPrivileges= false is not taken"),
    ("ReadOnly=maybe", "web.container:3: ReadOnly= takes a boolean"),
    ("GlobalArgs=--log-level debug", "web.container:3: GlobalArgs= takes --root alone"),
    ("GlobalArgs=--storage-driver overlay", "web.container:3: GlobalArgs= takes --root alone"),
    ('GlobalArgs=--root "/tmp/a\\n[Service]"', "web.container:3: GlobalArgs= --root needs an absolute path"),
    ("GlobalArgs=--root rel", "web.container:3: GlobalArgs= --root needs an absolute path"),
    ("Image=--privileged", "web.container:3: Image= '--privileged' is no image name"),
    ("Exec=sh -c 'x", "web.container:3: Exec= an open ' quote"),
])  # fmt: skip
def test_what_sdc_does_not_take_names_file_line_and_key(body: str, said: str) -> None:
    with pytest.raises(UsageError, match=said):
        read(body)


def test_a_file_without_an_image_is_refused() -> None:
    with pytest.raises(UsageError, match="web.container: \\[Container\\] has no Image="):
        container.read_container(settings("[Container]\nExec=true\n"), default_name="x")


@pytest.mark.parametrize(("body", "said"), [
    ("PublishPort=notaport", "web.container:3: PublishPort= "),
    ("PidsLimit=many", "web.container:3: PidsLimit= takes a int"),
    ("Memory=lots", "web.container:3: Memory= "),
    ("ContainerName=no/slash", "web.container:3: ContainerName= "),
])  # fmt: skip
def test_a_value_sdc_run_refuses_names_its_setting(body: str, said: str) -> None:
    unit = read(body)
    with pytest.raises(UsageError, match=said):
        container.check(unit, lambda v: generator.expand(v, "web.service"))


# --- the units made ---------------------------------------------------------------------------


def write_files(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_a_unit_runs_the_container_as_run_d_would(tmp_path: Path) -> None:
    write_files(tmp_path, {"web.container": "[Unit]\nDescription=web\n[Container]\nImage=bb\nNetwork=none\n"
                                            "Exec=sleep %i\nMemory=64m\nStopSignal=SIGINT\n[Service]\nRestart=always\n"
                                            "[Install]\nWantedBy=multi-user.target\n"})  # fmt: skip
    made = generator.generate(tmp_path / "web.container", [tmp_path])
    assert made.unit == "web.service"
    lines = made.text.splitlines()
    assert "Description=web" in lines and f"SourcePath={tmp_path}/web.container" in lines
    assert "Type=notify" in lines and "KillMode=mixed" in lines and "KillSignal=SIGINT" in lines
    assert "SuccessExitStatus=130" in lines and "MemoryMax=67108864" in lines and "DevicePolicy=closed" in lines
    [create] = [line for line in lines if "_unit-create" in line]
    assert create.endswith("_unit-create %n --network none --memory 64m --stop-signal SIGINT "
                           "--name systemd-%N -- bb sleep %i")  # (systemd expands the specifiers)
    assert any(line.startswith("ExecStart=") and "--notify /var/lib/sdc/containers/systemd-%N" in line
               for line in lines)  # fmt: skip
    assert [line.partition(" --root /var/lib/sdc ")[2] for line in lines if line.startswith("ExecStopPost=")] == [
        "_unit-cleanup %n"]  # (the container of the unit's run: whatever the file names it now)
    assert lines.index("Restart=always") > lines.index("[Service]")  # the file's own [Service] lines after
    assert lines[-2:] == ["[Install]", "WantedBy=multi-user.target"]


@given(st.lists(NO_NUL.filter(bool), min_size=1, max_size=5))
def test_a_value_is_one_word_of_the_command_line_whatever_it_holds(words: list[str]) -> None:
    """Exec='s words (newlines, quotes, backslashes, % and $ as the file writes them: systemd's to
    expand) come back from the unit's ExecStartPre as they went in: none ends the line early."""
    text = f"[Container]\nImage=bb\nNetwork=none\nExec={quote_words(words)}\n"
    unit = container.read_container(parse(text, "/q/w.container"), default_name="w")
    assert unit.command == tuple(words)
    lines = generator._service(unit, container.check(unit, lambda v: v.replace("%", "")), Path("/var/lib/sdc"))
    [create] = [line for line in lines if "_unit-create" in line]
    assert split_words(create.partition("=")[2])[-len(words):] == words


def test_drop_ins_and_search_directories(tmp_path: Path) -> None:
    etc, usr = tmp_path / "etc", tmp_path / "usr"
    write_files(usr, {"web.container": "[Container]\nImage=old\n", "db.container": "[Container]\nImage=db\n",
                      "web.container.d/10-net.conf": "[Container]\nNetwork=host\n",
                      "container.d/50-all.conf": "[Container]\nPidsLimit=50\n"})  # fmt: skip
    write_files(etc, {"web.container": "[Container]\nImage=new\n",
                      "web.container.d/10-net.conf": "[Container]\nNetwork=none\n",
                      "web.container.d/20-name.conf": "[Container]\nContainerName=web\n"})  # fmt: skip
    found = generator.sources([etc, usr])
    assert found == {"web.container": etc / "web.container", "db.container": usr / "db.container"}
    web = generator.generate(found["web.container"], [etc, usr])
    [create] = [line for line in web.text.splitlines() if "_unit-create" in line]
    assert create.endswith("_unit-create %n --network none --pids-limit 50 --name web -- new")  # by drop-in names


def test_a_template_and_its_instances(tmp_path: Path) -> None:
    write_files(tmp_path, {"job@.container": "[Container]\nImage=bb\nExec=sleep %i\nNetwork=none\n"
                                             "[Install]\nWantedBy=multi-user.target\nDefaultInstance=5\n"})  # fmt: skip
    made = generator.generate(tmp_path / "job@.container", [tmp_path])
    assert made.unit == "job@.service" and "--name systemd-%p_%i" in made.text
    out = tmp_path / "out"
    out.mkdir()
    generator.write(made, out)
    assert os.readlink(out / "multi-user.target.wants" / "job@5.service") == "../job@.service"


def test_other_kinds_are_refused_for_now(tmp_path: Path) -> None:
    write_files(tmp_path, {"app.artifact": "[Artifact]\n", "web.container": "[Container]\nImage=bb\n"})
    made, errors = generator.generate_all([tmp_path])
    assert [m.unit for m in made] == ["web.service"]
    assert [e.message for e in errors] == [f"{tmp_path}/app.artifact: .artifact files are not taken by sdc yet"]


def test_build_files_build_the_images_their_containers_run(tmp_path: Path) -> None:
    write_files(tmp_path, {"app.build": "[Build]\nImageTag=localhost/app:1\nImageTag=localhost/app:latest\n"
                                        "SetWorkingDirectory=unit\nTarget=runtime\nBuildArg=V=2 'W=x y'\n"
                                        "Pull=always\nNetwork=host\n",
                           "web.container": "[Container]\nImage=app.build\n",
                           "rel.build": "[Build]\nImageTag=rel\nSetWorkingDirectory=ctx\n"
                                        "File=Dockerfile\n"})  # fmt: skip
    made, errors = generator.generate_all([tmp_path])
    assert errors == []
    units = {m.unit: m.text for m in made}
    [start] = [line for line in units["app-build.service"].splitlines() if line.startswith("ExecStart=")]
    words = split_words(start.partition("=")[2])
    assert words[words.index("build"):] == ["build", "--tag", "localhost/app:1", "--tag", "localhost/app:latest",
                                            "--build-arg", "V=2", "--build-arg", "W=x y", "--target", "runtime",
                                            "--pull", "--network", "host", "--", str(tmp_path)]  # fmt: skip
    assert f"WorkingDirectory={tmp_path}" in units["app-build.service"]
    assert "RemainAfterExit" not in units["app-build.service"]  # (each start builds again: Podman's)
    web = units["web.service"]
    assert "Requires=app-build.service" in web and "After=app-build.service" in web and " localhost/app:1" in web
    [rel] = [line for line in units["rel-build.service"].splitlines() if line.startswith("ExecStart=")]
    assert rel.endswith("--file Dockerfile -- ctx") and "TimeoutStartSec=infinity" in units["rel-build.service"]
    assert f"WorkingDirectory={tmp_path}\n" in units["rel-build.service"]
    for text, said in [("[Build]\nSetWorkingDirectory=unit\nVolume=/a:/b\n", "app.build:3: Volume= is not taken"),
                       ("[Build]\nImageTag=a\nFile=Containerfile\n", "relative path in File key requires"),
                       ("[Build]\nImageTag=a\nSetWorkingDirectory=https://x/y.tar\n", "a directory of this host"),
                       ("[Build]\nImageTag=a\nSetWorkingDirectory=unit\nNetwork=web.network\n", "host, none"),
                       ("[Build]\nImageTag=-x\nSetWorkingDirectory=unit\n", "app.build:2: ImageTag= '-x' is no"),
                       ("[Build]\nImageTag=a\nSetWorkingDirectory=unit\nBuildArg=X=50%\n",
                        "app.build:4: BuildArg= '%'")]:
        write_files(tmp_path, {"app.build": text})
        with pytest.raises(SdcError, match=re.escape(said)):
            generator.generate(tmp_path / "app.build", [tmp_path], generator.sources([tmp_path]))


def _unit_lines(text: str, section: str) -> list[tuple[str, str]]:
    body = text.partition(f"[{section}]\n")[2].partition("\n[")[0]
    return [(k, v) for k, _, v in (line.partition("=") for line in body.splitlines() if "=" in line)]


def test_pod_files_make_pods_their_containers_join(tmp_path: Path) -> None:
    write_files(tmp_path, {"app.pod": "[Pod]\nPublishPort=8080:80\nHostName=apphost\nLabel=team=a\n"
                                      "Network=app.network\n",
                           "app.network": "[Network]\n",
                           "web.container": "[Container]\nImage=bb\nPod=app.pod\n",
                           "db.container": "[Container]\nImage=bb\nPod=app.pod\nStartWithPod=false\n",
                           "one@.container": "[Container]\nImage=bb\nPod=app.pod\n",
                           "lone.pod": "[Pod]\nPodName=solo\nExitPolicy=continue\nNetwork=none\n"})  # fmt: skip
    made, errors = generator.generate_all([tmp_path])
    assert errors == []
    units = {m.unit: m.text for m in made}
    pod = _unit_lines(units["app-pod.service"], "Unit")
    assert ("Wants", "web.service") in pod and ("Before", "web.service") in pod
    assert not any(v in ("db.service", "one@.service") for _, v in pod)  # (StartWithPod=false; a template)
    assert ("Requires", "app-network.service") in pod and ("StopWhenUnneeded", "yes") in pod
    service = dict(_unit_lines(units["app-pod.service"], "Service"))
    assert service["Type"] == "oneshot" and service["RemainAfterExit"] == "yes"
    assert service["Slice"] == "machine-sdc-pod_systemd\\x2dapp.slice"
    create = split_words(service["ExecStartPre"])
    assert create[create.index("_pod-unit-create"):] == [
        "_pod-unit-create", "%n", "--name", "systemd-app", "--publish", "8080:80", "--hostname", "apphost",
        "--label", "team=a", "--network", "systemd-app"]  # fmt: skip
    assert split_words(service["ExecStart"])[-2:] == ["--pod-up", "/var/lib/sdc/pods/systemd-app"]
    for name in ("web", "db", "one@"):
        unit = _unit_lines(units[f"{name}.service"], "Unit")
        assert ("BindsTo", "app-pod.service") in unit and ("After", "app-pod.service") in unit
        start = [v for k, v in _unit_lines(units[f"{name}.service"], "Service") if k == "ExecStartPre"][0]
        assert "--pod systemd-app" in start
    lone = units["lone-pod.service"]
    assert "StopWhenUnneeded" not in lone and "--name solo --network none" in lone


@pytest.mark.parametrize(("files", "said"), [
    ({"app.pod": "[Pod]\nVolume=data:/d\n"}, "app.pod:2: Volume= is not taken: sdc's pods have no volumes"),
    ({"app.pod": "[Pod]\nExitPolicy=later\n"}, "app.pod:2: ExitPolicy= 'later' is no exit policy"),
    ({"app.pod": "[Pod]\nPublishPort=x\n"}, "app.pod:2: PublishPort="),
    ({"app.pod": "[Pod]\nPodName=a/b\n"}, "app.pod:2: PodName="),
    ({"app.pod": "[Pod]\n[Service]\nRestart=always\n"}, "app.pod:3: Restart=always in [Service] is not taken"),
    ({"app@.pod": "[Pod]\n"}, "app@.pod: a template .pod file is not taken"),
    ({"web.container": "[Container]\nImage=bb\nPod=app\n"}, "web.container:3: Pod=app is no Quadlet .pod file"),
    ({"web.container": "[Container]\nImage=bb\nPod=app.pod\n"}, "web.container:3: Pod=app.pod: no Quadlet file"),
    ({"web.container": "[Container]\nImage=bb\nPod=app.pod\n", "app.pod": "[Pod]\nVolume=a:/b\n"},
     "web.container:3: Pod=app.pod: that file makes no unit"),
    ({"web.container": "[Container]\nImage=bb\nPod=app.pod\nPublishPort=80\n", "app.pod": "[Pod]\n"},
     "web.container:4: PublishPort= -p with --pod"),
    ({"web.container": "[Container]\nImage=bb\nNetwork=container:other\n"},
     "web.container:3: Network=container:other: no Quadlet .container file makes container other"),
])  # fmt: skip
def test_what_a_pod_file_or_its_container_cannot_say_names_its_line(tmp_path: Path, files: dict[str, str],
                                                                     said: str) -> None:  # fmt: skip
    write_files(tmp_path, files)
    source = next(name for name in files if name.startswith(("web", "app")) and not
                  (name == "app.pod" and "web.container" in files))  # fmt: skip
    with pytest.raises(SdcError, match=re.escape(said)) as caught:
        generator.generate(tmp_path / source, [tmp_path])
    assert caught.value.hint


def test_a_container_sharing_a_quadlet_containers_network_is_bound_to_its_unit(tmp_path: Path) -> None:
    write_files(tmp_path, {"db.container": "[Container]\nImage=bb\nContainerName=database\n",
                           "web.container": "[Container]\nImage=bb\nNetwork=db.container\n",
                           "api.container": "[Container]\nImage=bb\nNetwork=container:database\n"})  # fmt: skip
    made, errors = generator.generate_all([tmp_path])
    assert errors == []
    units = {m.unit: m.text for m in made}
    for name in ("web", "api"):
        unit = _unit_lines(units[f"{name}.service"], "Unit")
        assert ("BindsTo", "db.service") in unit and ("After", "db.service") in unit
        assert "--network container:database" in units[f"{name}.service"]


def test_volume_and_network_files_make_what_containers_name(tmp_path: Path) -> None:
    write_files(tmp_path, {"data.volume": "[Volume]\nLabel=team=a\n",
                           "app.network": "[Network]\nNetworkName=appnet\nSubnet=10.89.5.0/24\nInternal=true\n"
                                          "NetworkDeleteOnStop=true\n",
                           "web.container": "[Container]\nImage=bb\nNetwork=app.network\n"
                                            "Volume=data.volume:/d\n"})  # fmt: skip
    made = {m.unit: m for m in generator.generate_all([tmp_path])[0]}
    assert sorted(made) == ["app-network.service", "data-volume.service", "web.service"]

    def command(unit: str, key: str = "ExecStart=") -> list[str]:
        [line] = [line for line in made[unit].text.splitlines() if line.startswith(key)]
        words = split_words(line.partition("=")[2].lstrip("-"))
        return words[words.index("--root") + 2:]

    assert command("data-volume.service") == ["volume", "create", "--label", "team=a", "systemd-data"]
    assert command("app-network.service") == ["network", "create", "--ignore", "--internal", "--subnet",
                                              "10.89.5.0/24", "appnet"]  # fmt: skip
    assert command("app-network.service", "ExecStopPost=") == ["network", "rm", "appnet"]
    web = made["web.service"].text.splitlines()
    assert {"Requires=app-network.service", "After=app-network.service", "Requires=data-volume.service",
            "After=data-volume.service"} <= set(web)  # fmt: skip
    [create] = [line for line in web if "_unit-create" in line]
    assert "--network appnet" in create and "--volume systemd-data:/d" in create


def test_a_kube_file_plays_its_yaml_in_a_oneshot_that_stays(tmp_path: Path) -> None:
    write_files(tmp_path, {"app.kube": "[Kube]\nYaml=app.yaml\nYaml=/srv/more.yaml\nNetwork=appnet\n"
                                       "GlobalArgs=--root /var/lib/sdc-x\n"
                                       "[Install]\nWantedBy=multi-user.target\n"})  # fmt: skip
    made = generator.generate(tmp_path / "app.kube", [tmp_path])
    lines = made.text.splitlines()
    assert made.unit == "app.service" and "Type=oneshot" in lines and "RemainAfterExit=yes" in lines
    plays = [split_words(line.partition("=")[2]) for line in lines if line.startswith("ExecStart=")]
    downs = [split_words(line.partition("=-")[2]) for line in lines if line.startswith("ExecStopPost=")]
    assert [w[w.index("--root"):] for w in plays] == [
        ["--root", "/var/lib/sdc-x", "kube", "play", "--replace", "--network", "appnet", f"{tmp_path}/app.yaml"],
        ["--root", "/var/lib/sdc-x", "kube", "play", "--replace", "--network", "appnet", "/srv/more.yaml"]]
    assert [w[-1] for w in downs] == ["/srv/more.yaml", f"{tmp_path}/app.yaml"]
    assert f"RequiresMountsFor={tmp_path}/app.yaml" in lines and "RequiresMountsFor=/var/lib/sdc-x" in lines


@pytest.mark.parametrize(("body", "said"), [
    ("[Kube]\nYaml=a.yaml\nPublishPort=80\n", "app.kube:3: PublishPort= is not taken"),
    ("[Kube]\nYaml=a.yaml\nNetwork=db.network\n", "app.kube:3: Network= names a Quadlet file"),
    ("[Kube]\nYaml=a.yaml\nNetwork=container:x\n", "app.kube:3: Network= a pod's network is its own"),
    ("[Kube]\nYaml=a.yaml\nFoo=1\n", "app.kube:3: Foo= is not a key of [Kube]"),
    ("[Kube]\n", "app.kube: [Kube] has no Yaml="),
    ("[Kube]\nYaml=a.yaml\n[Service]\nType=notify\n", "app.kube:4: Type=notify in [Service] is not taken"),
    ("[Kube]\nYaml=a.yaml\n[Container]\nImage=bb\n", "app.kube:4: [Container] in a file of [Kube]"),
    ("[Unit]\nAfter=db.artifact\n[Kube]\nYaml=a.yaml\n", "app.kube:2: After=db.artifact: sdc generates no unit"),
])  # fmt: skip
def test_what_a_kube_file_cannot_say_names_its_line(tmp_path: Path, body: str, said: str) -> None:
    write_files(tmp_path, {"app.kube": body})
    with pytest.raises(SdcError, match=re.escape(said)):
        generator.generate(tmp_path / "app.kube", [tmp_path])


def test_specifiers_are_expanded_for_the_checks_alone() -> None:
    assert generator.expand("systemd-%N %p_%i %% %n %Z", "web@a.service") == "systemd-web@a web_a % web@a.service %Z"
    assert generator.expand("%i", "job@.service") == "instance"


def test_the_generator_never_fails_and_links_install(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    write_files(tmp_path / "in", {"web.container": "[Container]\nImage=bb\n[Install]\nWantedBy=default.target\n"
                                                   "Alias=www.service\n",
                                  "bad.container": "[Container]\nImage=bb\nPod=app\n",
                                  "binary.container": ""})  # fmt: skip
    (tmp_path / "in" / "binary.container").write_bytes(b"\xff\xfe[Container]\n")
    monkeypatch.setenv(generator.DIRS_VARIABLE, str(tmp_path / "in"))
    out = tmp_path / "out"
    out.mkdir()
    assert generator.main([str(out), str(out), str(out)]) == 0
    assert sorted(os.listdir(out)) == ["default.target.wants", "web.service", "www.service"]
    assert os.readlink(out / "default.target.wants" / "web.service") == "../web.service"
    said = capsys.readouterr().err
    assert "bad.container:3: Pod=app is no Quadlet .pod file" in said and "binary.container: cannot be read" in said
    assert (out / "web.service").read_text().startswith(generator.HEADER)


def test_host_paths_dependencies_and_the_quadlet_section(tmp_path: Path) -> None:
    write_files(tmp_path, {
        "db.container": "[Container]\nImage=db\nNetwork=none\n",
        "web.container": "[Unit]\nAfter=db.container\nRequires=db.container x.service\n[Quadlet]\n"
                         "DefaultDependencies=false\n[Container]\nImage=\"bb\"\nNetwork=none\n"
                         "Volume=./site:/srv\nVolume=/srv/data:/data:ro\nVolume=cache:/cache\nVolume=/anon\n"
                         "EnvironmentFile=web.env\nMount=type=bind,src=/opt/x,dst=/x\n",
    })  # fmt: skip
    made = generator.generate(tmp_path / "web.container", [tmp_path])  # (no host path need exist)
    lines = made.text.splitlines()
    assert "After=db.service" in lines and "Requires=db.service x.service" in lines
    assert "Wants=network-online.target" not in lines  # DefaultDependencies=false
    assert [line for line in lines if line.startswith("RequiresMountsFor=")] == [
        "RequiresMountsFor=/var/lib/sdc", f"RequiresMountsFor={tmp_path}/site", "RequiresMountsFor=/srv/data",
        "RequiresMountsFor=/opt/x"]  # fmt: skip
    [create] = [line for line in lines if "_unit-create" in line]
    assert f"--volume {tmp_path}/site:/srv" in create and f"--env-file {tmp_path}/web.env" in create
    assert create.endswith("--name systemd-%N -- bb")  # the image's quotes taken off
    with pytest.raises(UsageError, match="web.container:2: After=nope.container: no Quadlet file"):
        write_files(tmp_path, {"web.container": "[Unit]\nAfter=nope.container\n[Container]\nImage=bb\n"})
        generator.generate(tmp_path / "web.container", [tmp_path])


@pytest.mark.parametrize(("text", "said"), [
    ("[Service]\nUser=app\n", "x.container:2: User= in \\[Service\\] is not taken"),
    ("[Quadlet]\nFoo=1\n", "x.container:2: Foo= is not a key of \\[Quadlet\\]"),
    ("[Container]\nNetwork=db.network\n", "x.container:2: Network=db.network: no Quadlet file db.network"),
    ("[Container]\nVolume=data.volume:/d\n", "x.container:2: Volume=data.volume: no Quadlet file data.volume"),
    ("[Container]\nVolume=app.pod:/d\n", "x.container:2: Volume= names the Quadlet file app.pod"),
])  # fmt: skip
def test_what_other_sections_and_quadlet_names_refuse(tmp_path: Path, text: str, said: str) -> None:
    write_files(tmp_path, {"x.container": text + "[Container]\nImage=bb\n"})
    with pytest.raises(SdcError, match=said):
        generator.generate(tmp_path / "x.container", [tmp_path])


def test_a_file_name_that_is_no_unit_name_is_refused(tmp_path: Path) -> None:
    write_files(tmp_path, {"we b.container": "[Container]\nImage=bb\n"})
    with pytest.raises(SdcError, match="'we b.service' is no unit name systemd takes"):
        generator.generate(tmp_path / "we b.container", [tmp_path])


def test_sdcs_own_service_settings_and_the_files_commands(tmp_path: Path) -> None:
    write_files(tmp_path, {"w.container": "[Container]\nImage=bb\nNetwork=none\n[Service]\n"
                                          "ExecStartPre=mkdir -p /srv/w\nRestart=always\n"})  # fmt: skip
    lines = generator.generate(tmp_path / "w.container", [tmp_path]).text.splitlines()
    pre = [i for i, line in enumerate(lines) if line.startswith("ExecStartPre=")]
    assert lines[pre[0]] == "ExecStartPre=mkdir -p /srv/w" and "_unit-create" in lines[pre[1]]  # the file's first
    for line, said in (("ExecStart=/bin/true", "ExecStart=/bin/true in \\[Service\\] is not taken"),
                       ("Type=oneshot", "Type=oneshot in \\[Service\\] is not taken"),
                       ("ExecStopPost=", "ExecStopPost= in \\[Service\\] is not taken")):  # fmt: skip
        write_files(tmp_path, {"w.container": f"[Container]\nImage=bb\n[Service]\n{line}\n"})
        with pytest.raises(SdcError, match=said):
            generator.generate(tmp_path / "w.container", [tmp_path])


@pytest.mark.parametrize(("text", "said"), [
    ("[Container]\nImage=bb\nExec=date +%F\n", "x.container:3: Exec= '%F' is no specifier systemd knows"),
    ("[Container]\nImage=bb\nEnvironment=A=50%\n", "x.container:3: Environment= '%' is no specifier"),
    ("[Container]\nImage=bb\n[Install]\nAlias=../out.service\n", "x.container:4: Alias=../out.service leads out"),
    ("[Container]\nImage=bb\n[Install]\nWantedBy=/etc/x.target\n", "x.container:4: WantedBy=/etc/x.target leads"),
    ("[Container]\nImage=bb\n[Install]\nDefaultInstance=a\n", "x.container:4: DefaultInstance=a is no instance"),
])  # fmt: skip
def test_specifiers_and_install_names_are_checked(tmp_path: Path, text: str, said: str) -> None:
    write_files(tmp_path, {"x.container": text})
    with pytest.raises(SdcError, match=said):
        generator.generate(tmp_path / "x.container", [tmp_path])


def test_a_templates_instance_values_are_checked_as_it_starts(tmp_path: Path) -> None:
    write_files(tmp_path, {"site@.container": "[Container]\nImage=bb\nPublishPort=80%i:80\nExec=echo %%\n",
                           "site@1.container": "[Container]\nImage=bb\nNetwork=none\n"})  # fmt: skip
    assert "--publish 80%i:80" in generator.generate(tmp_path / "site@.container", [tmp_path]).text
    assert "--name systemd-%p_%i" in generator.generate(tmp_path / "site@1.container", [tmp_path]).text


def test_a_looping_link_a_bom_and_a_long_file(tmp_path: Path) -> None:
    import time

    (tmp_path / "loop").symlink_to(tmp_path)  # a directory linked to: not entered
    (tmp_path / "bom.container").write_bytes(b"\xef\xbb\xbf[Container]\nImage=bb\n")
    labels = "".join(f"Label=k{i}=v\n" for i in range(4000))
    write_files(tmp_path, {"long.container": f"[Container]\nImage=bb\n{labels}PublishPort=bad\n"})
    started = time.monotonic()
    made, errors = generator.generate_all([tmp_path])
    assert time.monotonic() - started < 5  # (the failing setting is found in the file's length's time)
    assert [m.unit for m in made] == ["bom.service"]
    assert [e.message.rpartition("/")[2] for e in errors][0].startswith("long.container:4003: PublishPort= ")


def test_a_value_keeps_its_characters_through_the_quoting() -> None:
    """\\xHH is a raw byte to systemd: a character above U+007F is written as it is."""
    for word in ("a\u0085b", "\u00a0", "é", "tab\there", "nl\nhere", "del\x7f"):
        assert split_words(quote_words([word])) == [word]
    assert quote_words(["a\u0085b"]) == "a\u0085b" and quote_words(["x\ny"]) == '"x\\ny"'


def test_the_readmes_table_is_the_generators() -> None:
    """Every key of [Container] in the README's table, taken or refused as the generator does it,
    a refusal with the generator's reason, a flag's key with its flag named."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.partition("| key of `[Container]` | sdc | as |\n")[2].partition("\n\n")[0]
    rows = {}
    for line in table.splitlines()[1:]:
        key, state, said = (cell.strip() for cell in line.strip("|").split(" | ", 2))
        rows[key.strip("`").removesuffix("=")] = (state, said)
    assert set(rows) == set(container.FLAGS) | set(container.OWN) | set(container.REFUSED) | {"Exec"}
    for key, why in container.REFUSED.items():
        assert rows[key] == ("refused", why), key
    for key, (flag, _) in container.FLAGS.items():
        assert rows[key][0] == "taken" and f"`{flag}" in rows[key][1], key
    assert all(rows[key][0] == "taken" for key in container.OWN)


def test_image_files_pull_what_containers_name(tmp_path: Path) -> None:
    write_files(tmp_path, {"base.image": "[Image]\nImage=docker://reg.example:5000/team/base:2\nArch=aarch64\n"
                                         "TLSVerify=false\nAuthFile=/etc/sdc/auth.json\nImageTag=localhost/base:2\n",
                           "web.container": "[Container]\nImage=base.image\n"})  # fmt: skip
    made, errors = generator.generate_all([tmp_path])
    assert errors == []
    units = {m.unit: m.text for m in made}
    service = _unit_lines(units["base-image.service"], "Service")
    pull, tag = [split_words(v) for k, v in service if k == "ExecStart"]
    assert pull[pull.index("pull"):] == ["pull", "--quiet", "--platform", "linux/arm64", "--no-tls-verify",
                                         "reg.example:5000/team/base:2"]  # fmt: skip
    assert tag[tag.index("tag"):] == ["tag", "reg.example:5000/team/base:2", "localhost/base:2"]
    assert ("Environment", "REGISTRY_AUTH_FILE=/etc/sdc/auth.json") in service
    unit = _unit_lines(units["web.service"], "Unit")
    assert ("Requires", "base-image.service") in unit and ("After", "base-image.service") in unit
    assert "-- localhost/base:2" in units["web.service"]


@pytest.mark.parametrize(("body", "said"), [
    ("[Image]\n", "app.image: [Image] has no Image="),
    ("[Image]\nImage=oci-archive:/tmp/x.tar\n", "app.image:2: Image= 'oci-archive:/tmp/x.tar' is no image"),
    ("[Image]\nImage=UPPER/x\n", "app.image:2: Image="),
    ("[Image]\nImage=a\nVariant=arm/v5\n", "app.image:3: Variant= 'arm/v5' is no platform's part"),
    ("[Image]\nImage=a\nAllTags=true\n", "app.image:3: AllTags= is not taken"),
    ("[Image]\nImage=a\nPolicy=missing\n", "app.image:3: Policy= 'missing' is not taken"),
    ("[Image]\nImage=a\nAuthFile=auth.json\n", "app.image:3: AuthFile= needs an absolute path"),
    ("[Image]\nImage=a\n[Service]\nRestart=always\n", "app.image:4: Restart=always in [Service] is not taken"),
])  # fmt: skip
def test_what_an_image_file_cannot_say_names_its_line(tmp_path: Path, body: str, said: str) -> None:
    write_files(tmp_path, {"app.image": body})
    with pytest.raises(SdcError, match=re.escape(said)) as caught:
        generator.generate(tmp_path / "app.image", [tmp_path])
    assert caught.value.hint


@pytest.mark.parametrize(("files", "refused", "said"), [
    ({"a.pod": "[Pod]\nPodName=dup\n", "b.pod": "[Pod]\nPodName=dup\n"}, "b.pod", "its pod dup is"),
    ({"app.pod": "[Pod]\n", "app-pod.container": "[Container]\nImage=bb\n"}, "app.pod",
     "its unit app-pod.service is"),
    ({"sdc-x.pod": "[Pod]\n"}, "sdc-x.pod", "would be named as sdc's own units are"),
    ({"web.container": "[Container]\nImage=bb\nNetwork=web.container\n"}, "web.container",
     "web.container:3: Network=web.container: that file makes no unit"),
    ({"a.container": "[Container]\nImage=bb\nNetwork=b.container\n",
      "b.container": "[Container]\nImage=bb\nNetwork=a.container\n"}, "a.container", "lead back to it"),
    ({"db.container": "[Container]\nImage=bb\nPod=x\n", "web.container": "[Container]\nImage=bb\n"
      "Network=db.container\n"}, "web.container", "web.container:3: Network=db.container: that file makes no unit"),
    ({"app.pod": "[Pod]\n", "web.container": "[Container]\nImage=bb\nPod=app.pod\nLabel=a=b\nNetwork=host\n"},
     "web.container", "web.container:5: Network="),
    ({"app.pod": "[Pod]\n", "web.container": "[Container]\nImage=bb\nPod=app.pod\nUserNS=auto\n"},
     "web.container", "web.container:4: UserNS=auto in a pod"),
    ({"app.pod": "[Pod]\nHostName=h%Z\n"}, "app.pod", "app.pod:2: HostName= '%Z' is no specifier"),
])  # fmt: skip
def test_quadlet_files_that_would_clash_or_never_start_are_refused(tmp_path: Path, files: dict[str, str],
                                                                   refused: str, said: str) -> None:  # fmt: skip
    write_files(tmp_path, files)
    made, errors = generator.generate_all([tmp_path])
    messages = [e.message for e in errors]
    assert any(m.startswith(f"{tmp_path}/{refused}") and said in m for m in messages), messages
    assert refused not in [m.source.name for m in made]
    assert all(e.hint for e in errors)


def test_a_pod_stops_with_its_last_container_only_where_that_can_be(tmp_path: Path) -> None:
    """ExitPolicy=stop as StopWhenUnneeded=: not for a pod with no container starting with it (it
    would stop as it starts), nor one a target wants (that keeps it)."""
    write_files(tmp_path, {"alone.pod": "[Pod]\n", "kept.pod": "[Pod]\n[Install]\nWantedBy=multi-user.target\n",
                           "used.pod": "[Pod]\n",
                           "a.container": "[Container]\nImage=bb\nPod=kept.pod\n",
                           "b.container": "[Container]\nImage=bb\nPod=used.pod\n"})  # fmt: skip
    units = {m.unit: m.text for m in generator.generate_all([tmp_path])[0]}
    assert ["StopWhenUnneeded=yes" in units[f"{n}-pod.service"] for n in ("alone", "kept", "used")] == \
        [False, False, True]  # fmt: skip


def test_a_shared_containers_name_is_its_units_expanded(tmp_path: Path) -> None:
    write_files(tmp_path, {"db.container": "[Container]\nImage=bb\nContainerName=db-%N\n",
                           "web.container": "[Container]\nImage=bb\nNetwork=db.container\n"})  # fmt: skip
    units = {m.unit: m.text for m in generator.generate_all([tmp_path])[0]}
    assert "--network container:db-db " in units["web.service"]


def test_many_containers_of_a_pod_are_generated_in_time(tmp_path: Path) -> None:
    """Each file is read and generated once in a run (a pod's unit reads its containers' files,
    each container's the pod's): 400 of them in a few seconds, not minutes."""
    import time

    write_files(tmp_path, {"app.pod": "[Pod]\n", **{f"c{i}.container": "[Container]\nImage=bb\nPod=app.pod\n"
                                                     for i in range(400)}})  # fmt: skip
    started = time.monotonic()
    made, errors = generator.generate_all([tmp_path])
    assert errors == [] and len(made) == 401
    assert time.monotonic() - started < 20
