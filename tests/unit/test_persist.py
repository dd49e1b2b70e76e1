"""An enabled container's drop-in says what its transient unit would have been told (persist.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sdcontainer import persist, units
from sdcontainer.paths import Paths
from sdcontainer.spec import build_run_spec


def test_the_drop_in_is_the_transient_units_settings() -> None:
    spec = build_run_spec(image="bb", command=["true"], name="db", detach=True, memory="64m", cpus=0.5,
                          cpuset_cpus="1", restart="on-failure:3", stop_signal="RTMIN+3")  # fmt: skip
    props = units.build_service_properties(spec, launcher=["/usr/bin/python3", "-I", "/l.py", "--notify", "/s/c/db"],
                                           cleanup=["/usr/bin/python3", "x%y$z"], read_only=["/usr/bin/python3"],
                                           container_id="abc")  # fmt: skip
    text = persist.render(props, requires=["var-lib-sdc-storage.mount"], store=Path("/var/lib/sdc"))
    unit, service = text.split("[Service]\n")
    assert "RequiresMountsFor=/var/lib/sdc\n" in unit and "Requires=var-lib-sdc-storage.mount\n" in unit
    assert "StartLimitBurst=4\n" in unit and "StartLimitIntervalSec=infinity\n" in unit
    lines = service.splitlines()
    assert lines[lines.index("ExecStart=") + 1] == "ExecStart=/usr/bin/python3 -I /l.py --notify /s/c/db"
    assert "ExecStopPost=-/usr/bin/python3 'x%%y$$z'" in lines  # no specifier, no variable of systemd's
    for line in ("MemoryMax=67108864", "CPUQuota=50%", "AllowedCPUs=1", "CPUAffinity=1", "Restart=on-failure",
                 "RestartSec=1000000us", "KillSignal=SIGRTMIN+3", "TimeoutStopSec=10000000us", "SendSIGKILL=yes",
                 "DevicePolicy=closed", "DeviceAllow=", "DeviceAllow=/dev/null rwm",
                 "LogExtraFields=SDC_CONTAINER_ID=abc"):  # fmt: skip
        assert line in lines, line
    assert not [line for line in lines if line.startswith("CollectMode")]


def test_mount_unit_names_are_systemd_escape_path() -> None:
    assert persist.mount_unit_name(Path("/var/lib/sdc/storage")) == "var-lib-sdc-storage.mount"
    assert persist.mount_unit_name(Path("/var/lib/sdc-test-1/storage")) == "var-lib-sdc\\x2dtest\\x2d1-storage.mount"
    assert persist.mount_unit_name(Path("/srv/.hidden/a b")) == "srv-\\x2ehidden-a\\x20b.mount"


def test_the_pools_mount_unit_goes_with_the_last_container_needing_it(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    system = tmp_path / "system"
    system.mkdir()
    monkeypatch.setattr(persist, "SYSTEM", system)
    paths = Paths(tmp_path / "store")
    paths.root.mkdir()
    paths.pool_image.write_bytes(b"")
    props = {"Description": "sdc container", "Type": "notify"}
    for name in ("a", "b"):
        persist.install(paths, name, props)
        persist.enable(name)
    mount = system / persist.mount_unit_name(paths.storage)
    assert mount.read_text().startswith(persist.MOUNT_HEADER)
    persist.uninstall(paths, "a")
    assert mount.exists() and not (system / "sdc@a.service.d").exists()
    assert not (system / persist.WANTS / "sdc@a.service").is_symlink()
    persist.uninstall(paths, "b")
    assert not mount.exists() and not (system / "sdc@b.service.d").exists()
    mount.write_text("[Mount]\nWhat=/dev/sdb\n")  # an administrator's, for the same place: never ours to remove
    persist.uninstall(paths, "b")
    assert mount.exists()


def test_a_joiners_drop_in_is_bound_to_the_unit_it_joins() -> None:
    spec = build_run_spec(image="bb", command=["true"], name="j", detach=True, network="container:web")
    props = units.build_service_properties(spec, launcher=["/p", "--notify", "/s/c/j"], cleanup=["/p"],
                                           read_only=[], bound_to="sdc-web.service")  # fmt: skip
    unit, service = persist.render(props, requires=[], store=Path("/var/lib/sdc")).split("[Service]\n")
    assert "BindsTo=sdc-web.service\n" in unit and "After=sdc-web.service\n" in unit
    assert "BindsTo" not in service and "After" not in service
    assert units.build_scope_properties(spec, pid=1, bound_to="sdc-web.service")["BindsTo"] == ["sdc-web.service"]
    assert "BindsTo" not in units.build_service_properties(spec, launcher=["/p"], cleanup=["/p"], read_only=[])


def test_where_no_package_installed_the_template_sdc_writes_its_own_and_takes_it_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    system, packaged = tmp_path / "etc", tmp_path / "usr"
    system.mkdir()
    packaged.mkdir()
    monkeypatch.setattr(persist, "SYSTEM", system)
    monkeypatch.setattr(persist, "UNIT_PATHS", (system, packaged))
    paths = Paths(tmp_path / "store")
    paths.root.mkdir()
    props = {"Description": "sdc container", "Type": "notify"}
    persist.install(paths, "a", props)  # a pip install: no template anywhere
    template = system / persist.TEMPLATE
    text = template.read_text()
    assert text.startswith(persist.TEMPLATE_HEADER) and "launcher_entry.py --notify /var/lib/sdc/containers/%i" in text
    assert "\n[Install]\nWantedBy=multi-user.target\n" in text
    persist.enable("a")
    assert os.readlink(system / persist.WANTS / "sdc@a.service") == str(template)
    persist.uninstall(paths, "a")
    assert not template.exists()  # ours, and no container needs it now
    (packaged / persist.TEMPLATE).write_text("[Service]\n")  # a package's: used, never shadowed
    persist.install(paths, "b", props)
    assert not template.exists()
    persist.uninstall(paths, "b")
    assert (packaged / persist.TEMPLATE).exists()
