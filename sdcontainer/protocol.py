"""The files of a container's bundle: their names, who writes each, and what the records hold.

sdc and the launcher both import this module (os only: the launcher runs on every start).

    config.json     sdc, when it creates the container: the OCI runtime config (bundle.py)
    seccomp.bpf     sdc, then: the container's seccomp filter (seccomp.py)
    container.json  sdc, first of all: what was asked (containers.py)
    starting        sdc: there until the start is settled (api.containers.settle)
    pid             the launcher, before it lets PID 1 exec: PID 1's PID, as the host sees it
    launch-error    the launcher, when PID 1 cannot exec, before it lets PID 1 exit: why
    state.json      the launcher, once PID 1 has ended (a service's ExecStopPost, or itself in
                    the foreground): how it ended, as `state` makes it

Each record has one writer and is written whole or not at all (files.write_atomically); those
of a run are cleared before the next one starts (clear_run).
"""

from __future__ import annotations

import os

VERSION = 1  # of the records' shapes; in state.json as "version"

CONFIG = "config.json"
SECCOMP = "seccomp.bpf"
RECORD = "container.json"
STARTING = "starting"
RENAMING = "renaming"  # `sdc rename` at work (api/rename.py): the bundle's directory may have the new name already
PID = "pid"
LAUNCH_ERROR = "launch-error"
STATE = "state.json"
NETNS_DIR = "/run/sdc/netns"  # a networked container's namespace, kept by a bind mount: NETNS_DIR/ID
# A pod's IPC and UTS namespaces, kept by bind mounts: PODNS_DIR/ID.ipc, ID.uts (its network's: NETNS_DIR/ID)
PODNS_DIR = "/run/sdc/podns"
POD = "pod.json"  # a pod's record, in its directory (api/pods.py), which its unit's --pod-up reads (podns.py)
ATTACH = "attach.sock"  # a -d -t container's terminal holder listens here for `sdc attach` (SEQPACKET)
NETWORK = "network.json"  # what the unit's --net-up makes of the container's network (netns.py)
NETWORK_STATUS = "network-status.json"  # netavark's status of it, while it is up
# A foreground run's fds from 3 on, passed to its PID 1 (--preserve-fds, socket activation's
# LISTEN_FDS): how many, by sdc to the launcher in its environment; and LISTEN_FDS's own count
# and names, which PID 1 is told as LISTEN_FDS, LISTEN_PID=1 and LISTEN_FDNAMES.
PRESERVE_FDS, LISTEN_FDS, LISTEN_FDNAMES = "SDC_PRESERVE_FDS", "SDC_LISTEN_FDS", "SDC_LISTEN_FDNAMES"
HEALTH = "health.json"  # sdc's health check (api.health), after each check of a run
# health.json's Status, Docker's words (its "starting" is not the record's file of that name)
HEALTH_STARTING, HEALTHY, UNHEALTHY = STARTING, "healthy", "unhealthy"
# `sdc rm -f` killed the run's PID 1 and removes the container: its ExecStopPost (launcher_entry.py,
# before it imports anything) records nothing; rm writes how it ended (api.containers.remove)
REMOVING = "removing"
REMOVING_FRESH = 60.0  # seconds: an older mark is one an interrupted rm left, taken by no end
RUN_RECORDS = (PID, LAUNCH_ERROR, STATE, HEALTH, REMOVING)  # what one run leaves
# config.json's annotation for --sdnotify=container: the launcher of a service passes the unit's
# notify socket to the payload at NOTIFY_PATH and leaves READY=1 to it
SDNOTIFY = "org.sdc.sdnotify"
NOTIFY_PATH = "/run/notify/notify.sock"
# a container that runs systemd: its machine ID, which the launcher writes to its /etc/machine-id
# where the image has none (launcher.set_machine_id)
MACHINE_ID = "org.sdc.machine-id"
# the container's ID and name, for the journal entries of a foreground container's output (the
# launcher's JournalCopy: a detached one's have them from its unit's LogExtraFields)
CONTAINER_ID, CONTAINER_NAME, IMAGE = "org.sdc.id", "org.sdc.name", "org.sdc.image"
LOG_DRIVER = "org.sdc.log-driver"  # none, passthrough: a foreground container's output is not copied to the journal
ATTACH = "org.sdc.attach"  # -a: the streams a foreground run relays to the caller (stdout,stderr: both)
LOG_TAG = "org.sdc.log-tag"  # --log-opt tag=: the SYSLOG_IDENTIFIER of its journal entries
ID_FIELD, NAME_FIELD, STREAM_FIELD = "SDC_CONTAINER_ID", "SDC_CONTAINER_NAME", "SDC_STREAM"
# where a container's cgroup hierarchies are mounted (OCI's "cgroup" mount, the launcher's)
CGROUP_ROOT = "/sys/fs/cgroup"
# an option of the cgroup mount: its v1 controllers' hierarchies read-only, the rest as the mount
CGROUP_CONTROLLERS_READ_ONLY = "x-sdc.controllers-ro"
# config.json's key (sdc's own: runtime-spec readers ignore what they do not know): the files sdc
# writes for each run of the container, [path in the container, file of the bundle], which the
# launcher writes into the container's own layer before anything else is mounted
OWN_FILES = "sdcOwnFiles"
OWN_FILES_MAX = 1 << 20  # bytes of each

# The capabilities config.json names (capabilities(7), <linux/capability.h>), by number.
CAPABILITIES = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3, "CAP_FSETID": 4,
    "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_LINUX_IMMUTABLE": 9,
    "CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13,
    "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15, "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18,
    "CAP_SYS_PTRACE": 19, "CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21, "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23,
    "CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27, "CAP_LEASE": 28,
    "CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31, "CAP_MAC_OVERRIDE": 32,
    "CAP_MAC_ADMIN": 33, "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35, "CAP_BLOCK_SUSPEND": 36,
    "CAP_AUDIT_READ": 37, "CAP_PERFMON": 38, "CAP_BPF": 39, "CAP_CHECKPOINT_RESTORE": 40,
}  # fmt: skip


def state(*, exit_code: int | None, finished: float, result: str, oom_killed: bool) -> dict[str, object]:
    """state.json: PID 1's exit status shell-style (128+N when killed by signal N; None when
    unknown), when, systemd's result for it (or the launcher's: success, exit-code, oom-kill),
    and whether the OOM killer took a process of the container."""
    return {"version": VERSION, "exit_code": exit_code, "finished": finished, "result": result,
            "oom_killed": oom_killed}  # fmt: skip


def clear_run(bundle: str) -> None:
    """Forget the records of the bundle's last run, before it starts again."""
    for name in RUN_RECORDS:
        try:
            os.unlink(os.path.join(bundle, name))
        except FileNotFoundError:
            pass
