"""A pod's namespaces, made and unmade by its unit, held by no process of ours.

Standard library and sdcontainer's launcher-side modules only: it runs as the launcher does, as
`launcher --pod-up POD_DIR` (the pod's unit's ExecStart: a oneshot that stays active with no
process, RemainAfterExit=) and `--pod-down POD_DIR` (its ExecStopPost: after a start that
failed or was cut short too). Each namespace a pod
shares is kept by a bind mount of its nsfs file, as `ip netns add` keeps one: the kernel holds
a namespace while anything refers to it, a mount included, so nothing needs to run for the pod
to be there. Its containers' launchers join them (launcher.join_namespace) before PID 1 is
cloned. A PID namespace is the one kind that cannot be kept so (it dies with its first
process): a pod does not share one.

Its network namespace is NETNS_DIR/ID, as a container's: on one of sdc's networks, netns.up
makes it from the pod's network.json (its address, its published ports) as it makes a
container's; with --network none, a namespace with its loopback alone. Its IPC and UTS
namespaces are PODNS_DIR/ID.ipc and ID.uts, the UTS one named with the pod's hostname.
"""

from __future__ import annotations

import os
import re
import socket
import sys

from sdcontainer import linux, netns, protocol

SHAREABLE = ("net", "ipc", "uts")
UNIT_VARIABLE = "SDC_POD_UNIT"  # a Quadlet pod's unit says its name (%n): only a pod of that unit's is touched


class PodError(Exception):
    pass


def read_pod(bundle: str) -> dict:  # type: ignore[type-arg]
    """The pod's record as its unit needs it, checked (root's, but read by a root process that
    mounts what it names): an ID, a hostname, the namespaces it shares, its network's mode."""
    import json

    with open(os.path.join(bundle, protocol.POD), encoding="utf-8") as f:
        return check_pod(json.load(f))


def check_pod(data: object) -> dict:  # type: ignore[type-arg]
    if not isinstance(data, dict) or not re.fullmatch(r"[0-9a-f]{64}", str(data.get("id"))):
        raise PodError(f"{protocol.POD} is not sdc's")
    share = data.get("share")
    if not isinstance(share, list) or not all(kind in SHAREABLE for kind in share):
        raise PodError(f"{protocol.POD} shares namespaces sdc does not")
    hostname = data.get("hostname")
    if not isinstance(hostname, str) or not re.fullmatch(r"[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,63}", hostname):
        raise PodError(f"{protocol.POD} has no hostname of sdc's")
    if not isinstance(data.get("network"), str):
        raise PodError(f"{protocol.POD} has no network")
    return data


def paths(pod_id: str) -> dict[str, str]:
    """Where each kind of a pod's namespaces is kept."""
    return {"net": f"{protocol.NETNS_DIR}/{pod_id}", "ipc": f"{protocol.PODNS_DIR}/{pod_id}.ipc",
            "uts": f"{protocol.PODNS_DIR}/{pod_id}.uts"}  # fmt: skip


def up(bundle: str) -> None:
    """The pod's namespaces made (what a crash left of them undone first)."""
    pod = read_pod(bundle)
    down(bundle, pod)
    at = paths(pod["id"])
    try:
        if "net" in pod["share"] and pod["network"] != "host":
            if os.path.exists(os.path.join(bundle, protocol.NETWORK)):
                netns.up(bundle)
            else:  # --network none: loopback alone
                netns.make_namespace(at["net"], "net", linux.bring_up_loopback)
        if "ipc" in pod["share"]:
            netns.make_namespace(at["ipc"], "ipc")
        if "uts" in pod["share"]:
            netns.make_namespace(at["uts"], "uts", lambda: socket.sethostname(pod["hostname"]))
    except BaseException:
        down(bundle, pod)
        raise


def down(bundle: str, pod: dict | None = None) -> list[str]:  # type: ignore[type-arg]
    """The pod's namespaces unmounted and removed, its network torn down (its leases stay its
    own until it is removed): what failed."""
    pod = pod or read_pod(bundle)
    at = paths(pod["id"])
    failed = [why for kind in ("ipc", "uts") if (why := netns.remove_namespace(at[kind]))]
    if os.path.exists(os.path.join(bundle, protocol.NETWORK)):
        failed += netns.down(bundle)
    elif why := netns.remove_namespace(at["net"]):
        failed.append(why)
    return failed


def main(mode: str, bundle: str) -> int:
    """--pod-up / --pod-down, in the pod's unit: 0, or 1 with what failed said (on its journal)."""
    try:
        bundle = os.path.realpath(bundle)
        pod = read_pod(bundle)
        unit = os.environ.get(UNIT_VARIABLE, "")
        if unit and pod.get("unit") != unit:  # a Quadlet pod's unit: the pod of its name is another's
            raise PodError(f"{bundle} is not unit {unit}'s pod: left as it is")
        netns.enter_host_mounts()
        # Out of its unit's cgroup: an aardvark-dns netavark starts serves the whole network, and
        # systemd would kill it with the pod's unit when it stops.
        netns.leave_unit()
        if mode == "pod-up":
            up(bundle)
            return 0
        failed = down(bundle, pod)
    except (PodError, netns.NetworkError, OSError, KeyError, ValueError, TypeError) as exc:
        print(f"sdc: the pod's namespaces: {exc}", file=sys.stderr, flush=True)
        return 1
    for why in failed:
        print(f"sdc: the pod's namespaces: {why}", file=sys.stderr, flush=True)
    return 1 if failed else 0
