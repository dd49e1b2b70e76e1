"""Which cgroup.procs files join writes (cgroups.cgroup_procs_files), from mountinfo and /proc/PID/cgroup."""

from __future__ import annotations

from sdcontainer.cgroups import cgroup_procs_files, systemds_hierarchies

MOUNTINFO = """\
30 25 0:26 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
31 25 0:27 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
32 25 0:28 / /sys/fs/cgroup/blkio rw - cgroup cgroup rw,blkio
33 25 0:29 /.. /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
"""


def test_the_files_of_each_hierarchy_a_process_has_a_cgroup_in() -> None:
    cgroup = "0::/machine.slice/sdc-x.scope\n1:name=systemd:/machine.slice/sdc-x.scope\n"
    assert cgroup_procs_files(MOUNTINFO, cgroup) == [
        "/sys/fs/cgroup/unified/machine.slice/sdc-x.scope/cgroup.procs",
        "/sys/fs/cgroup/systemd/machine.slice/sdc-x.scope/cgroup.procs",
    ]


def test_a_cgroup_above_our_namespaces_root_is_left_out() -> None:
    """From a cgroup namespace of its own, a caller sees a cgroup above its root as "/..": it is
    inside it already, and no mount of its reaches it (this crashed: .../blkio/../cgroup.procs)."""
    cgroup = "3:blkio:/..\n1:name=systemd:/../sdc-x.scope\n4:memory:/../sdc-x.scope\n"
    assert cgroup_procs_files(MOUNTINFO, cgroup) == ["/sys/fs/cgroup/memory/sdc-x.scope/cgroup.procs"]


def test_priming_moves_a_process_in_systemds_hierarchy_alone() -> None:
    """prime_migration's move of sdc into its own cgroup: in v2's hierarchy or v1's name=systemd,
    never in a controller's, where the cgroup named may not be the one the process is in."""
    hybrid = "12:memory:/user.slice\n3:blkio:/\n1:name=systemd:/user.slice/s.scope\n0::/user.slice/s.scope\n"
    assert systemds_hierarchies(hybrid) == "1:name=systemd:/user.slice/s.scope\n0::/user.slice/s.scope\n"
    assert cgroup_procs_files(MOUNTINFO, systemds_hierarchies(hybrid))[:1] == [
        "/sys/fs/cgroup/systemd/user.slice/s.scope/cgroup.procs"
    ]
    assert systemds_hierarchies("0::/\n") == "0::/\n"
    assert systemds_hierarchies("4:memory:/x\n5:cpu,cpuacct:/x\n") == ""
