"""Pods without systemd: their flags, names, units' properties and the record their unit reads."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdcontainer import bundle, podns, protocol, units
from sdcontainer.api import pods
from sdcontainer.errors import UsageError
from sdcontainer.spec import build_run_spec

POD_ID = "ab" * 32


def test_a_pods_container_takes_its_network_from_the_pod() -> None:
    spec = build_run_spec(image="img", pod="app", environ={"SDC_NETWORK": "bridge"})
    assert (spec.pod, spec.network, spec.networked, spec.joins) == ("app", "pod", False, "")
    for flags, said in (({"publish": ["80"]}, "-p with --pod"), ({"network": "bridge"}, "--network with --pod"),
                        ({"ip": "10.90.0.5"}, "--ip with --pod"), ({"hostname": "h"}, "--hostname with --pod"),
                        ({"publish_all": True}, "-P with --pod"), ({"enable": True, "detach": True}, "--enable"),
                        ({"mac_address": "02:42:ac:11:00:99"}, "--mac-address")):  # fmt: skip
        with pytest.raises(UsageError, match=said):
            build_run_spec(image="img", pod="app", **flags)
    for bad in ("a/b", "", "-x", "x" * 300):
        with pytest.raises(UsageError, match="--pod"):
            build_run_spec(image="img", pod=bad)
    with pytest.raises(UsageError, match="--network pod"):
        build_run_spec(image="img", network="pod")


def test_a_pods_units_and_their_names() -> None:
    assert units.pod_unit("app") == "sdc-app-pod.service" and units.pod_target("app") == "sdc-app-pod.target"
    assert units.pod_slice("my-app") == "machine-sdc-pod_my\\x2dapp.slice"  # a dash would nest it
    spec = build_run_spec(image="img", pod="my-app", detach=True)
    props = units.build_service_properties(spec, launcher=["l"], cleanup=["c"], read_only=[],
                                           bound_to="sdc-my-app-pod.service")
    assert props["Slice"] == "machine-sdc-pod_my\\x2dapp.slice" and props["PartOf"] == ["sdc-my-app-pod.target"]
    assert props["BindsTo"] == ["sdc-my-app-pod.service"]
    assert props["After"] == ["sdc-my-app-pod.service", "sdc-my-app-pod.target"]
    scope = units.build_scope_properties(spec, pid=5, bound_to="sdc-my-app-pod.service")
    assert scope["Slice"] == units.SLICE and scope["PartOf"] == ["sdc-my-app-pod.target"]  # see units.pod_slice
    assert units.unit_cgroup("sdc-x.service", "my-app") == "/machine.slice/machine-sdc.slice/" \
        "machine-sdc-pod_my\\x2dapp.slice/sdc-x.service"  # fmt: skip
    assert units.unit_cgroup("sdc-x.scope", "my-app") == units.unit_cgroup("sdc-x.scope")
    units.typed_properties(props)  # every property has its signature


def test_a_pods_containers_are_born_in_its_namespaces(tmp_path: object) -> None:
    pod = pods.Pod(id=POD_ID, name="app", hostname="app", network="bridge", share=("net", "uts"))
    assert pods.namespaces(pod) == {"uts": f"{protocol.PODNS_DIR}/{POD_ID}.uts"}
    assert pods.netns_path(pod) == f"{protocol.NETNS_DIR}/{POD_ID}"
    assert pods.netns_path(pods.Pod(id=POD_ID, name="a", hostname="a", network="host")) == ""
    spec = build_run_spec(image="img", pod="app")
    config = bundle.build_runtime_config(spec, image_config={}, container_dir=tmp_path, account=bundle.Account(0, 0),
                                         netns=pods.netns_path(pod), joined=pods.namespaces(pod))  # type: ignore[arg-type]  # fmt: skip
    found = {ns["type"]: ns.get("path") for ns in config["linux"]["namespaces"]}  # type: ignore[index]
    assert found["network"] == pods.netns_path(pod) and found["uts"] == f"{protocol.PODNS_DIR}/{POD_ID}.uts"
    assert found["ipc"] is None and found["pid"] is None  # its own


def test_share_takes_what_a_pod_can_keep() -> None:
    assert pods.check_share(["ipc"]) == ("net", "ipc") and pods.check_share(["uts, ipc", "net"]) == pods.SHARES
    assert pods.check_share([""]) == ("net",)
    with pytest.raises(UsageError, match="PID namespace"):
        pods.check_share(["net,pid"])
    with pytest.raises(UsageError, match="--share"):
        pods.check_share(["mnt"])


GOOD = {"id": POD_ID, "name": "app", "hostname": "app", "network": "bridge", "share": ["net", "ipc", "uts"]}


def test_the_record_the_pods_unit_reads_is_checked() -> None:
    assert podns.check_pod(dict(GOOD)) == GOOD
    for bad in ({"id": "../../etc"}, {"id": POD_ID[:-1] + "G"}, {"share": ["mnt"]}, {"share": "net"},
                {"hostname": "a/b"}, {"hostname": "x" * 65}, {"hostname": ""}, {"network": 5}):  # fmt: skip
        with pytest.raises(podns.PodError):
            podns.check_pod({**GOOD, **bad})


SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=70)
JSONISH = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                       max_size=4), max_leaves=12)  # fmt: skip


@given(st.dictionaries(st.sampled_from(sorted(GOOD)), JSONISH, max_size=5), JSONISH)
def test_a_tampered_record_names_no_place_outside_the_pods_namespaces(changes: dict, other: object) -> None:  # type: ignore[type-arg]
    """Whatever pod.json holds, its unit mounts and unmounts only PODNS_DIR/ID.* and NETNS_DIR/ID
    of a 64-hex ID, and sets a hostname of a hostname's characters, or refuses it."""
    for data in ({**GOOD, **changes}, other):
        try:
            checked = podns.check_pod(json.loads(json.dumps(data)))
        except podns.PodError:
            continue
        for path in podns.paths(checked["id"]).values():
            assert path.rsplit("/", 1)[0] in (protocol.PODNS_DIR, protocol.NETNS_DIR) and ".." not in path
        assert len(checked["hostname"]) <= 64 and "/" not in checked["hostname"]


def test_a_quadlet_pods_unit_touches_no_pod_of_another(tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    """--pod-up/--pod-down with $SDC_POD_UNIT (a .pod file's unit): a pod.json of another unit's, or
    of `sdc pod create`'s, is left as it is (its namespaces and network are that pod's)."""
    pod_id = "a" * 64
    (tmp_path / protocol.POD).write_text(json.dumps({"id": pod_id, "name": "dup", "hostname": "dup", "network": "none",
                                                     "share": ["net", "ipc", "uts"], "unit": "one-pod.service"}))
    monkeypatch.setenv(podns.UNIT_VARIABLE, "two-pod.service")
    touched = []
    monkeypatch.setattr(podns.netns, "enter_host_mounts", lambda: touched.append("mounts"))
    monkeypatch.setattr(podns, "down", lambda *a: touched.append("down") or [])
    assert podns.main("pod-down", str(tmp_path)) == 1
    assert touched == [] and "is not unit two-pod.service's pod" in capsys.readouterr().err
    monkeypatch.setenv(podns.UNIT_VARIABLE, "one-pod.service")
    monkeypatch.setattr(podns.netns, "leave_unit", lambda: None)
    assert podns.main("pod-down", str(tmp_path)) == 0 and touched == ["mounts", "down"]


def test_only_sdcs_own_pods_units_get_a_target() -> None:
    assert units.bound("sdc-app-pod.service", "app")["PartOf"] == ["sdc-app-pod.target"]
    assert units.bound("app-pod.service", "systemd-app") == {"BindsTo": ["app-pod.service"],
                                                             "After": ["app-pod.service"]}  # fmt: skip
