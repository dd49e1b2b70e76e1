"""--device and --device-cgroup-rule as Docker takes them, and what they become: nodes in the
container's /dev (config.json) and DeviceAllow= entries systemd understands."""

import os

import pytest

from sdcontainer import devices
from sdcontainer.errors import UsageError


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("/dev/null", "/dev/null:/dev/null:rwm"),
        ("/dev/null:r", "/dev/null:/dev/null:r"),
        ("/dev/null:/dev/xnull", "/dev/null:/dev/xnull:rwm"),
        ("/dev/null:/dev/net/x:rw", "/dev/null:/dev/net/x:rw"),
    ],
)
def test_device_forms(given: str, kept: str) -> None:
    assert devices.parse_device(given) == kept


@pytest.mark.parametrize(
    ("given", "error"),
    [
        ("/etc/passwd", "/etc/passwd is not a device node"),
        ("/dev/no-such-node", "/dev/no-such-node: No such file or directory"),
        ("dev/null", "is not a device node"),
        ("/dev/null:/tmp/x", "the container's path must be a node of its own under /dev"),
        ("/dev/null:/dev/../etc/x", "the container's path must be"),
        ("/dev/null:/dev/pts/9", "the container's path must be"),
        ("/dev/null:/dev/x:rwx", "invalid --device '/dev/null:/dev/x:rwx'"),
        ("/dev/null:/dev/x:rr", "invalid --device"),
        ("/dev/null:/dev/x:r:w", "invalid --device"),
    ],
)
def test_bad_devices_are_one_line_errors(given: str, error: str) -> None:
    with pytest.raises(UsageError, match=error.replace(".", r"\.").replace("(", r"\(")):
        devices.parse_device(given)


def test_a_symlink_to_a_node_is_kept_as_the_node(tmp_path: object) -> None:
    link = os.path.join(str(tmp_path), "link")
    os.symlink("/dev/null", link)
    assert devices.parse_device(f"{link}:/dev/n") == "/dev/null:/dev/n:rwm"


def test_rules_as_systemd_can_say_them() -> None:
    assert devices.parse_rule("c  1:*   r") == "c 1:* r"
    assert devices.allow_of("c 1:* r") == [("char-mem", "r")]
    assert devices.allow_of("b 7:0 rw") == [("/dev/block/7:0", "rw")]
    assert devices.allow_of("a *:* m") == [("char-*", "m"), ("block-*", "m")]
    assert devices.allow_of("c 10:200 rwm") == [("/dev/char/10:200", "rwm")]


@pytest.mark.parametrize(
    ("given", "error"),
    [
        ("x 1:2 r", "invalid --device-cgroup-rule"),
        ("c 1:2 rr", "invalid --device-cgroup-rule"),
        ("c 1 r", "invalid --device-cgroup-rule"),
        ("c *:3 r", "no form for one minor of every major"),
        ("c 4095:* r", "no driver of this host has major 4095"),
    ],
)
def test_bad_rules_are_refused_before_anything_starts(given: str, error: str) -> None:
    with pytest.raises(UsageError, match=error.replace("*", r"\*")):
        devices.parse_rule(given)


def test_an_added_device_is_a_node_and_a_rule() -> None:
    st = os.stat("/dev/null")
    added = [devices.parse_device("/dev/null:/dev/null:r"), devices.parse_device("/dev/zero:/dev/net/zero:rw")]
    nodes = {d["path"]: d for d in devices.config_devices(added, privileged=False)}
    assert len(nodes) == len(devices.DEFAULT_NODES) + 1  # /dev/null once: the added one wins
    assert nodes["/dev/null"]["fileMode"] == st.st_mode & 0o7777 and nodes["/dev/net/zero"]["minor"] == 5
    allow = devices.device_allow(added, ["c 10:200 rwm"])
    assert allow[: len(devices.DEFAULT_ALLOW)] == list(devices.DEFAULT_ALLOW)
    assert allow[len(devices.DEFAULT_ALLOW) :] == [("/dev/char/1:3", "r"), ("/dev/char/1:5", "rw"),
                                                   ("/dev/char/10:200", "rwm")]  # fmt: skip
