import os
import re
import signal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sdcontainer.containerspec import UNLIMITED, check_name, parse_signal, signal_name
from sdcontainer.errors import UsageError
from sdcontainer.spec import (
    build_limits,
    build_run_spec,
    check_user,
    parse_cpuset,
    parse_env_file,
    parse_size,
    resolve_env,
)


def test_sizes_use_docker_binary_units() -> None:
    assert parse_size("512", flag="-m") == 512
    assert parse_size("64m", flag="-m") == 64 * 1024 * 1024
    assert parse_size("1.5g", flag="-m") == 1536 * 1024 * 1024
    assert parse_size("2KiB", flag="-m") == 2048
    assert parse_size("1GB", flag="-m") == 1 << 30


@pytest.mark.parametrize("text", ["lots", "", "-5m", "1x", "m"])
def test_bad_sizes_are_refused(text: str) -> None:
    with pytest.raises(UsageError, match="invalid size"):
        parse_size(text, flag="--memory")


def test_memory_below_docker_minimum_is_refused() -> None:
    with pytest.raises(UsageError, match="below the minimum"):
        build_limits(memory="4m")


def test_memory_swap_rules() -> None:
    assert build_limits(memory="64m", memory_swap="-1").memory_swap == UNLIMITED
    assert build_limits(memory="64m", memory_swap="96m").memory_swap == 96 << 20
    with pytest.raises(UsageError, match="needs --memory"):
        build_limits(memory_swap="96m")
    with pytest.raises(UsageError, match="smaller than --memory"):
        build_limits(memory="64m", memory_swap="32m")


def test_cpuset_lists() -> None:
    assert parse_cpuset("0-2,5") == (0, 1, 2, 5)
    assert parse_cpuset("3") == (3,)
    for bad in ("", "a", "2-1", "1,,2", "-1"):
        with pytest.raises(UsageError):
            parse_cpuset(bad)


def test_limit_ranges() -> None:
    with pytest.raises(UsageError):
        build_limits(cpu_shares=1)
    with pytest.raises(UsageError):
        build_limits(cpus=0)
    with pytest.raises(UsageError):
        build_limits(cpus=float("nan"))
    with pytest.raises(UsageError):
        build_limits(pids_limit=-2)
    with pytest.raises(UsageError):
        build_limits(blkio_weight=5)
    assert build_limits(pids_limit=0).pids_limit == UNLIMITED
    assert build_limits(pids_limit=-1).pids_limit == UNLIMITED


def test_names() -> None:
    assert check_name("web-1.a_b") == "web-1.a_b"
    for bad in ("bad/name", "", "-x", "a" * 64, "sp ace", "ünï"):
        with pytest.raises(UsageError, match="invalid container name"):
            check_name(bad)


def test_users_are_names_or_ids_looked_up_later() -> None:
    for good in ("1000", "1000:50", "nobody", "app:staff", "www-data", "_apt"):
        assert check_user(good) == good
    for bad in ("", ":", "a:b:c", "bob smith", "-x", "x" * 40, "ünï"):
        with pytest.raises(UsageError, match="invalid --user"):
            check_user(bad)


def test_signal_names() -> None:
    assert parse_signal("KILL") == signal.SIGKILL
    assert parse_signal("sigterm") == signal.SIGTERM
    assert parse_signal("1") == signal.SIGHUP
    assert parse_signal("SIGRTMIN+3") == parse_signal("rtmin+3") == signal.SIGRTMIN + 3  # systemd's halt
    assert signal_name(signal.SIGRTMIN + 3) == "SIGRTMIN+3" and signal_name(15) == "SIGTERM"
    for bad in ("NOPE", "RTMIN+99", "0", "999"):
        with pytest.raises(UsageError):
            parse_signal(bad)


def test_signals_read_and_named_as_the_signal_modules_enum_has_them() -> None:
    """containerspec reads signals off _signal (signal's enums import enum): the same table."""
    for number in range(1, 70):
        try:
            expected = signal.Signals(number).name
        except ValueError:
            expected = f"SIGRTMIN+{number - signal.SIGRTMIN}" if signal.SIGRTMIN <= number <= signal.SIGRTMAX else None
        if expected is not None:
            assert (signal_name(number), parse_signal(str(number))) == (expected, number)
    for name, member in signal.Signals.__members__.items():
        assert parse_signal(name) == parse_signal(name.removeprefix("SIG").lower()) == member.value


def test_run_flags_become_a_checked_spec() -> None:
    spec = build_run_spec(image="bb", command=["sh", "-c", "x"], rm=True, env=["A=1"], memory="64m", stop_signal="hup")
    assert (spec.name, spec.command, spec.auto_remove, spec.env) == ("", ("sh", "-c", "x"), True, ("A=1",))
    assert (spec.limits.memory, spec.stop_signal, spec.user) == (64 << 20, "SIGHUP", "")
    assert build_run_spec(image="bb", name="web", user="bob:7").user == "bob:7"
    # What the flags leave unset is the image's: resolved when the container is made (api.run).
    unset = build_run_spec(image="bb")
    assert (unset.workdir, unset.user, unset.stop_signal, unset.entrypoint) == ("", "", "", None)
    assert build_run_spec(image="bb", entrypoint="").entrypoint == ()
    assert build_run_spec(image="bb", entrypoint="/bin/sh -c").entrypoint == ("/bin/sh -c",)  # one program, as Docker
    for bad in ({"name": "-x"}, {"stop_timeout": -1}, {"stop_signal": "NOPE"}, {"env": ["=x"]}, {"user": "a b"}):
        with pytest.raises(UsageError):
            build_run_spec(image="bb", **bad)  # type: ignore[arg-type]


def test_env_without_a_value_passes_on_the_callers() -> None:
    caller = {"HOME": "/home/me", "EMPTY": ""}
    assert resolve_env(["A=1", "HOME", "EMPTY", "UNSET", "B="], caller) == ["A=1", "HOME=/home/me", "EMPTY=", "B="]
    for bad in ("", "=x", "A=\0"):
        with pytest.raises(UsageError, match="invalid --env"):
            resolve_env([bad], caller)


def test_env_files_read_as_docker_reads_them() -> None:
    text = (
        "\ufeff# a comment\n"
        "\n"
        "   PLAIN=value with spaces  \n"
        'QUOTED="kept as is"\n'
        "EQUALS=a=b\n"
        "  # indented comment\n"
        "PASSED\n"
        "NOT_SET\n"
        "EMPTY=\n"
    )
    assert parse_env_file(text.removeprefix("\ufeff"), path="f", environ={"PASSED": "from caller"}) == [
        "PLAIN=value with spaces  ",
        'QUOTED="kept as is"',
        "EQUALS=a=b",
        "PASSED=from caller",
        "EMPTY=",
    ]
    for bad in ("BAD NAME=1", "=nothing"):
        with pytest.raises(UsageError, match="line 2"):
            parse_env_file(f"OK=1\n{bad}\n", path="f", environ={})


def test_env_file_then_env_a_later_value_winning(tmp_path: Path) -> None:
    first = tmp_path / "first.env"
    first.write_bytes("\ufeffA=from-file\nB=file\n".encode())
    spec = build_run_spec(image="bb", env_file=[str(first)], env=["A=from-flag", "C"], environ={"C": "caller"})
    assert spec.env == ("A=from-file", "B=file", "A=from-flag", "C=caller")
    with pytest.raises(UsageError, match="cannot read --env-file"):
        build_run_spec(image="bb", env_file=[str(tmp_path / "missing")])
    (tmp_path / "latin1.env").write_bytes(b"A=\xe9\n")
    with pytest.raises(UsageError, match="not UTF-8"):
        build_run_spec(image="bb", env_file=[str(tmp_path / "latin1.env")])


def caps_of(**flags: object) -> set[str]:
    from sdcontainer.spec import capabilities

    return set(capabilities(build_run_spec(image="bb", **flags)))


def test_capabilities_follow_dockers_rules() -> None:
    from sdcontainer.protocol import CAPABILITIES
    from sdcontainer.spec import DEFAULT_CAPS

    assert caps_of() == set(DEFAULT_CAPS)
    assert caps_of(cap_drop=["ALL"], cap_add=["net_bind_service"]) == {"CAP_NET_BIND_SERVICE"}
    assert caps_of(cap_add=["SYS_PTRACE"], cap_drop=["CAP_MKNOD"]) == set(DEFAULT_CAPS) - {"CAP_MKNOD"} | {
        "CAP_SYS_PTRACE"}  # fmt: skip
    assert caps_of(cap_add=["ALL"], cap_drop=["SYS_ADMIN"]) == set(CAPABILITIES) - {"CAP_SYS_ADMIN"}
    assert caps_of(cap_add=["NET_ADMIN"], cap_drop=["NET_ADMIN"]) >= {"CAP_NET_ADMIN"}  # added wins, as Docker's
    assert caps_of(privileged=True) == set(CAPABILITIES)
    from sdcontainer.spec import capabilities

    host = frozenset(CAPABILITIES) - {"CAP_BPF", "CAP_SYS_RESOURCE"}  # an older kernel, a narrowed bounding set
    privileged = capabilities(build_run_spec(image="bb", privileged=True), available=host)
    assert set(privileged) == host
    with pytest.raises(UsageError, match="--cap-add CAP_SYS_RESOURCE: this host cannot grant it"):
        capabilities(build_run_spec(image="bb", cap_add=["sys_resource"]), available=host)


def test_unknown_capabilities_and_security_opts_are_refused() -> None:
    with pytest.raises(UsageError, match="unknown capability 'NET_FLY' for --cap-add"):
        build_run_spec(image="bb", cap_add=["NET_FLY"])
    with pytest.raises(UsageError, match="unsupported --security-opt 'label=disable'"):
        build_run_spec(image="bb", security_opt=["label=disable"])
    spec = build_run_spec(image="bb", security_opt=["seccomp:relative.json", "no-new-privileges:true"])
    assert spec.seccomp == str(Path("relative.json").absolute())


def test_privileged_is_unconfined_unless_a_profile_is_named() -> None:
    from sdcontainer.spec import seccomp_profile

    assert seccomp_profile(build_run_spec(image="bb")) is None
    assert seccomp_profile(build_run_spec(image="bb", privileged=True)) == "unconfined"
    named = build_run_spec(image="bb", privileged=True, security_opt=["seccomp=/p.json"])
    assert seccomp_profile(named) == "/p.json"


def test_userns_flag_and_its_default() -> None:
    assert build_run_spec(image="bb", userns="auto", environ={}).userns == "auto"
    assert build_run_spec(image="bb", environ={"SDC_USERNS": "auto"}).userns == "auto"  # the default
    assert build_run_spec(image="bb", userns="host", environ={"SDC_USERNS": "auto"}).userns == "host"
    with pytest.raises(UsageError, match="invalid --userns 'keep-id'"):
        build_run_spec(image="bb", userns="keep-id", environ={})
    with pytest.raises(UsageError, match="--privileged is the host's root"):
        build_run_spec(image="bb", userns="auto", privileged=True, environ={})
    with pytest.raises(UsageError, match="--privileged is the host's root"):  # as Docker's userns-remap
        build_run_spec(image="bb", privileged=True, environ={"SDC_USERNS": "auto"})
    assert build_run_spec(image="bb", privileged=True, userns="host", environ={"SDC_USERNS": "auto"}).privileged


def test_systemd_mode_follows_the_command_or_the_flag() -> None:
    from sdcontainer.spec import build_run_spec

    def mode(command: list[str], flag: str | None = None) -> bool:
        return build_run_spec(image="i", command=command, systemd=flag).runs_systemd

    assert mode(["/sbin/init"]) and mode(["/lib/systemd/systemd", "--log-level=debug"])
    assert mode(["/usr/lib/systemd/systemd"]) and mode(["/usr/sbin/init"])
    assert not mode(["init"]) and not mode(["/bin/sh", "-c", "exec /sbin/init"])
    assert mode(["/bin/sh", "-c", "exec /sbin/init"], "always") and not mode(["/sbin/init"], "false")
    with pytest.raises(UsageError, match="invalid --systemd 'yes'"):
        mode(["/sbin/init"], "yes")


def test_an_env_file_is_a_file_or_a_pipe_and_never_a_terminal(tmp_path: Path) -> None:
    """Issue 22: --env-file /dev/ptmx opened a terminal and waited on it forever. A regular file,
    a pipe (a shell's <(...)) and /dev/null are read; a device, a directory are one error."""
    import threading

    from sdcontainer.spec import read_env_files

    for path in ("/dev/ptmx", "/dev/zero", str(tmp_path)):
        with pytest.raises(UsageError, match="cannot read --env-file"):
            read_env_files([path], {})
    assert read_env_files(["/dev/null"], {}) == []
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=fifo.write_text, args=("A=1\n",))
    writer.start()
    assert read_env_files([str(fifo)], {}) == ["A=1"]
    writer.join()


def test_labels_are_utf8_text() -> None:
    from sdcontainer.spec import parse_labels

    assert parse_labels(["a=b", "c", "a=d"]) == ("a=d", "c=")
    for bad in ["k=\udcff", "=v", "k=a\nb", "k=\0"]:
        with pytest.raises(UsageError):
            parse_labels([bad])


def test_ulimits_shm_and_the_launchers_rlimit_numbers() -> None:
    import resource

    from sdcontainer import bundle, launcher
    from sdcontainer.spec import ULIMITS, parse_ulimit

    assert parse_ulimit("nofile=1024") == "nofile=1024:1024" and parse_ulimit("core=-1") == "core=-1:-1"
    for name in ULIMITS:  # each name Docker takes is one the launcher can set
        assert f"RLIMIT_{name.upper()}" in launcher.RLIMITS
        known = getattr(resource, f"RLIMIT_{name.upper()}", None)
        assert known is None or known == launcher.RLIMITS[f"RLIMIT_{name.upper()}"]
    assert bundle.rlimits(["nofile=1:2", "core=-1:-1"]) == [
        {"type": "RLIMIT_NOFILE", "soft": 1, "hard": 2},
        {"type": "RLIMIT_CORE", "soft": bundle.RLIM_INFINITY, "hard": bundle.RLIM_INFINITY}]
    shm = [m for m in bundle._mounts(Path("/c"), shm_size=1000) if m["destination"] == "/dev/shm"][0]
    assert "size=1k" in shm["options"]  # (size=0k would be no limit at all)


def test_a_deeply_nested_image_config_is_refused() -> None:
    from sdcontainer.images.config import check_image_config

    deep: object = 1
    for _ in range(600):
        deep = [deep]
    with pytest.raises(UsageError, match="nested"):
        check_image_config({"config": {"X": deep}})
    check_image_config({"config": {"Labels": {"a": "b"}, "Env": ["A=1"]}})


def test_attach_takes_docker_streams_in_any_case_and_not_with_detach() -> None:
    from sdcontainer.spec import parse_attach

    assert parse_attach(["STDOUT", "stdin", "stdout"], detach=False) == ("stdin", "stdout")
    assert build_run_spec(image="i", attach=["stdin"]).interactive
    for bad, detach in ((["tty"], False), (["stdout"], True), ([""], False)):
        with pytest.raises(UsageError):
            parse_attach(bad, detach=detach)


def test_a_records_defaults_are_its_flags_defaults() -> None:
    """ContainerSpec (containerspec.py, which ps imports without the flags) states the defaults
    RUN_FLAGS gives its switches: the two never disagree."""
    from sdcontainer.containerspec import ContainerSpec
    from sdcontainer.record import fields
    from sdcontainer.spec import RUN_DEFAULTS

    renamed = {"rm": "auto_remove"}
    spec_defaults = {f.name: f.default for f in fields(ContainerSpec)}
    shared = {param: renamed.get(param, param) for param in RUN_DEFAULTS if renamed.get(param, param) in spec_defaults}
    assert len(shared) >= 12
    mismatched = {p: (RUN_DEFAULTS[p], spec_defaults[f]) for p, f in shared.items()
                  if RUN_DEFAULTS[p] is not None and RUN_DEFAULTS[p] != spec_defaults[f]}  # fmt: skip
    assert mismatched == {}


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from("aZ09_.-\n é١"), max_size=70) | st.text(max_size=70))
def test_names_are_taken_as_dockers_pattern_takes_them(text: str) -> None:
    """is_name (no re: ps imports it) against Docker's own pattern for names."""
    import re

    from sdcontainer.containerspec import is_name

    assert is_name(text) == bool(re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}", text))


@pytest.mark.parametrize("text", ["RTMIN", "SIGRTMIN", "rtmax-2", "RTMIN+3", "sigrtmin+0", "RTMAX-0"])
def test_real_time_signals_by_offset(text: str) -> None:
    import signal

    base, _, offset = text.upper().removeprefix("SIG").partition("+" if "+" in text else "-")
    number = (signal.SIGRTMIN if base == "RTMIN" else signal.SIGRTMAX) + (int(offset or 0) * (1 if "+" in text else -1))
    assert parse_signal(text) == number


@pytest.mark.parametrize("text", ["RTMIN+", "RTMIN++1", "RTMIN+١", "RTMAX+1", "RTMIN-1", "RTMINX", "SIGSIGKILL", ""])
def test_bad_real_time_signals_are_refused(text: str) -> None:
    with pytest.raises(UsageError):
        parse_signal(text)


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet=st.sampled_from("aZ09_.-:é٣ \n"), max_size=40))
def test_users_are_checked_as_their_pattern_has_them(text: str) -> None:
    """check_user by hand (every run checks its image's User): the pattern it replaces."""
    account = r"[A-Za-z0-9_.][A-Za-z0-9_.-]{0,31}"
    expected = bool(re.fullmatch(rf"{account}(?::{account})?", text, re.ASCII))
    try:
        check_user(text)
        taken = True
    except UsageError:
        taken = False
    assert taken == expected, text
