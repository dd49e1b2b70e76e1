import signal

from sdcontainer import devices, units
from sdcontainer.containerspec import ContainerSpec
from sdcontainer.spec import build_limits


def spec(**kw: object) -> ContainerSpec:
    base: dict[str, object] = {"name": "web", "image": "bb", "command": ("sleep", "1")}
    base.update(kw)
    return ContainerSpec(**base)  # type: ignore[arg-type]


def test_unit_names() -> None:
    assert units.service_name("web") == "sdc-web.service"
    assert units.scope_name("web") == "sdc-web.scope"


def test_cpu_shares_follow_runc() -> None:
    # ceil(10^((L^2+125L)/612 - 7/34)), L = log2(shares)
    assert units.cpu_shares_to_weight(1024) == 100
    assert units.cpu_shares_to_weight(2) == 1
    assert units.cpu_shares_to_weight(262144) == 10000
    assert units.cpu_shares_to_weight(512) == 59
    assert units.cpu_shares_to_weight(2048) == 174


def test_cpu_mask_byte_order() -> None:
    assert units.cpu_mask([0]) == b"\x01"
    assert units.cpu_mask([0, 1, 9]) == b"\x03\x02"
    assert units.cpu_mask([]) == b""


def test_service_properties_for_every_limit_flag() -> None:
    limits = build_limits(
        memory="64m", memory_swap="96m", cpu_shares=512, cpus=1.5, cpuset_cpus="0,2", pids_limit=50, blkio_weight=300
    )
    props = units.build_service_properties(
        spec(limits=limits, detach=True, stop_timeout=3),
        launcher=["/py", "-m", "l"],
        cleanup=["/py", "c"],
        read_only=["/py"],
    )
    assert props == {
        "Description": "sdc container web (bb)",
        "Slice": "machine-sdc.slice",
        "Type": "notify",
        "NotifyAccess": "all",
        "ExecStart": [("/py", ["/py", "-m", "l"], False)],
        "ExecStopPost": [("/py", ["/py", "c"], True)],
        "KillMode": "mixed",
        "KillSignal": int(signal.SIGTERM),
        "SendSIGKILL": True,
        "TimeoutStopUSec": 3_000_000,
        "CollectMode": "inactive-or-failed",
        "SyslogIdentifier": "web",
        "SyslogLevelPrefix": False,
        "ReadOnlyPaths": ["/py"],
        "MemoryAccounting": True,
        "TasksAccounting": True,
        "CPUAccounting": True,
        "IOAccounting": True,
        "MemoryMax": 64 << 20,
        "MemorySwapMax": 32 << 20,
        "CPUWeight": 59,
        "CPUQuotaPerSecUSec": 1_500_000,
        "AllowedCPUs": b"\x05",
        "CPUAffinity": b"\x05",
        "TasksMax": 50,
        "IOWeight": 60,
        "DevicePolicy": "closed",
        "DeviceAllow": list(devices.DEFAULT_ALLOW),
    }


def test_swap_defaults_follow_docker() -> None:
    assert units.build_limit_properties(build_limits(memory="64m"))["MemorySwapMax"] == 64 << 20
    assert units.build_limit_properties(build_limits(memory="64m", memory_swap="-1"))["MemorySwapMax"] == units.INFINITY
    assert "MemorySwapMax" not in units.build_limit_properties(build_limits())
    assert units.build_limit_properties(build_limits(pids_limit=-1))["TasksMax"] == units.INFINITY


def test_scope_properties() -> None:
    props = units.build_scope_properties(spec(stop_signal="SIGINT"), pid=42)
    assert props["PIDs"] == [42]
    assert props["KillSignal"] == int(signal.SIGINT)
    assert props["Slice"] == units.SLICE
    assert "ExecStart" not in props


def test_every_property_has_a_signature() -> None:
    props = units.build_service_properties(
        spec(
            limits=build_limits(
                memory="64m", memory_swap="-1", cpu_shares=2, cpus=1, cpuset_cpus="0", pids_limit=5, blkio_weight=10
            )
        ),
        launcher=["/l"],
        cleanup=["/c"],
        read_only=["/l"],
    )
    typed = units.typed_properties(props)
    assert [name for name, _, _ in typed] == list(props)
    assert dict((n, s) for n, s, _ in typed)["AllowedCPUs"] == "ay"
    assert dict((n, s) for n, s, _ in typed)["ExecStart"] == "a(sasb)"


def test_devices_are_closed_but_for_what_the_container_is_given() -> None:
    """Docker's default device cgroup: the nodes the launcher makes, the container's ptys, mknod."""
    expected = {
        "DevicePolicy": "closed",
        "DeviceAllow": [
            ("/dev/null", "rwm"), ("/dev/zero", "rwm"), ("/dev/full", "rwm"), ("/dev/random", "rwm"),
            ("/dev/urandom", "rwm"), ("/dev/tty", "rwm"), ("/dev/ptmx", "rwm"), ("char-pts", "rwm"),
            ("char-*", "m"), ("block-*", "m"),
        ],
    }  # fmt: skip
    service = units.build_service_properties(spec(), launcher=["/l"], cleanup=["/c"], read_only=["/l"])
    scope = units.build_scope_properties(spec(), pid=42)
    for props in (service, scope):
        assert {k: props[k] for k in expected} == expected


def every_limit() -> list[ContainerSpec]:
    """A spec for each limit flag alone, and one with all of them."""
    flags: dict[str, object] = {"memory": "64m", "memory_swap": "96m", "cpu_shares": 512, "cpus": 1.5,
                                "cpuset_cpus": "0", "pids_limit": 50, "blkio_weight": 300}  # fmt: skip
    alone = [{k: v, **({"memory": "64m"} if k == "memory_swap" else {})} for k, v in flags.items()]
    return [spec(limits=build_limits(**f)) for f in [*alone, flags]]  # type: ignore[arg-type]


def test_scopes_get_only_what_a_scope_takes() -> None:
    """CPUAffinity= is an exec setting: systemd refused it for a scope at run time (issue 10)."""
    for s in every_limit():
        assert set(units.build_scope_properties(s, pid=1)) <= units.SCOPE_TAKES
    scope = units.build_scope_properties(spec(limits=build_limits(cpuset_cpus="1")), pid=1)
    assert scope["AllowedCPUs"] == b"\x02" and "CPUAffinity" not in scope


def test_every_limit_reaches_both_unit_types() -> None:
    """Each limit flag's properties: all of them on a service, all but the exec ones on a scope."""
    for s in every_limit():
        limits = units.build_limit_properties(s.limits)
        service = units.build_service_properties(s, launcher=["/l"], cleanup=["/c"], read_only=["/l"])
        scope = units.build_scope_properties(s, pid=1)
        assert limits.items() <= service.items()
        assert {k: v for k, v in limits.items() if k != "CPUAffinity"}.items() <= scope.items()


def test_a_networked_service_unmakes_its_network_in_its_cleanup_or_before_it() -> None:
    """Its network is made before each start (ExecStartPre) and unmade after each stop: by the
    launcher that records how it ended (--exited --net-down: one process), or where the cleanup
    is sdc's own (--rm), by an ExecStopPost of its own before it: the cleanup removes the bundle
    the teardown reads, and runs in the unit's mount namespace, where the network namespace's
    mount cannot be undone (it left the namespace and its published ports behind)."""
    from pathlib import Path

    from sdcontainer.api import run
    from sdcontainer.containers import Container

    for auto_remove in (False, True):
        container = Container(id="c" * 64, spec=spec(network="sdc", detach=True, auto_remove=auto_remove),
                              image_id="i", unit="sdc-web.service", driver="btrfs", rootfs="/r",
                              bundle="/var/lib/sdc/containers/web", created=0.0)  # fmt: skip
        ctx = type("Ctx", (), {"paths": type("P", (), {"root": Path("/var/lib/sdc")})()})()
        props = run.service_properties(ctx, container)  # type: ignore[arg-type]
        [(_, pre, ignore)] = props["ExecStartPre"]  # type: ignore[misc]
        assert pre[-2:] == ["--net-up", container.bundle] and not ignore
        assert not [key for key in props if key.endswith("Ex")]  # what a daemon-reload would drop (units.py)
        if auto_remove:
            [(_, down, ignore), (_, cleanup, _)] = props["ExecStopPost"]  # type: ignore[misc]
            assert down[-2:] == ["--net-down", container.bundle] and "_cleanup" in cleanup and ignore
        else:
            [(_, cleanup, _)] = props["ExecStopPost"]  # type: ignore[misc]
            assert cleanup[-3:] == ["--exited", "--net-down", container.bundle]
