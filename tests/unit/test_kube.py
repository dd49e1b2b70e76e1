"""Kubernetes YAML read (sdcontainer/kube/model.py), and the schema validator the generate tests use."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sdcontainer.errors import UsageError
from sdcontainer.kube import model
from tests import kubeschema
from tests.integration.test_kube import PLAYED

TEXT = PLAYED.replace("NAME", "app").replace("IMAGE", "busybox").replace("HOSTDIR", "/srv/data")


def test_the_played_file_is_kubernetes_own() -> None:
    """The integration test's file is valid for Kubernetes, strictly: the validator takes it."""
    for doc in yaml.safe_load_all(TEXT):
        assert kubeschema.validate(doc) == [], doc["kind"]


def test_the_validator_refuses_what_kubectl_would() -> None:
    pod = next(d for d in yaml.safe_load_all(TEXT) if d["kind"] == "Pod")
    pod["spec"]["containers"][0]["livenessprobe"] = {}
    pod["spec"]["containers"][1]["ports"] = [{"containerPort": "80"}]
    pod["spec"]["volumes"][0]["configMap"]["items"][0].pop("key")
    pod["spec"]["restartPolicy"] = True
    assert sorted(kubeschema.validate(pod)) == [
        ".spec.containers[0].livenessprobe: unknown field",
        ".spec.containers[1].ports[0].containerPort: not an integer",
        ".spec.restartPolicy: not a string",
        ".spec.volumes[0].configMap.items[0].key: required, missing",
    ]
    assert kubeschema.validate({"apiVersion": "v1", "kind": "Secret"}) != []


def test_a_file_becomes_pods_and_their_containers_flags() -> None:
    plan = model.parse(TEXT)
    web, api = plan.pods
    assert (web.name, web.source) == ("app-web", "Pod/app-web")
    assert (api.name, api.source) == ("app-api-pod", "Deployment/app-api")
    assert web.publish == ("127.0.0.1:8098:80/tcp",) and web.labels == {"app": "web"}
    httpd, writer = web.containers
    assert httpd.command == ("httpd", "-f", "-p", "80", "-h", "/www") and httpd.args is None
    assert httpd.flags["memory"] == str(64 * 2**20) and httpd.flags["cpus"] == 0.5
    assert httpd.flags["restart"] == "always" and httpd.flags["name"] == "app-web-httpd"
    assert writer.flags["read_only"] and writer.flags["cap_drop"] == ("NET_RAW",)
    assert writer.flags["env"] == ["MODE=prod"]
    assert api.containers[0].flags["user"] == "1000:1000" and "restart" not in {
        k for k, v in api.containers[0].flags.items() if v is not None}  # fmt: skip
    flags = model.run_flags(web, writer, {"scratch": "app-web-scratch", "data": "/srv/data", "site": "/x"})
    assert flags["volume"] == ["app-web-scratch:/scratch", "/srv/data:/data"]
    assert plan.config_maps == {"webconf": {"index.html": "hello from a configMap\n", "app.ini": "mode=prod\n"}}


@pytest.mark.parametrize(("value", "wanted"), [("64Mi", 64 * 2**20), ("1G", 10**9), ("1.5Gi", 3 * 2**29),
                                               ("1000", 1000), (4096, 4096), ("0.5Ki", 512)])  # fmt: skip
def test_quantities(value: str | int, wanted: int) -> None:
    assert model.quantity(value, "x") == wanted


def test_cpus() -> None:
    assert model.cpus("500m", "x") == 0.5 and model.cpus(2, "x") == 2 and model.cpus("1.5", "x") == 1.5
    for bad in ("1Gi", "-1", "0", "lots", ""):
        with pytest.raises(UsageError):
            model.cpus(bad, "x")


def test_a_large_file_is_bounded() -> None:
    with pytest.raises(UsageError, match="more than"):
        model.parse("a: [" + "1," * (model.MAX_NODES + 10) + "1]\n")


@pytest.mark.parametrize(("change", "says"), [
    (("claimName: data", "claimName: /etc"), "not a volume's name"),
    (("mountPath: /data}", "mountPath: '/data:suid,dev'}"), "not an absolute path sdc mounts"),
    (("path: /srv/data", "path: '/:/host'"), "not an absolute path sdc binds"),
    (("value: prod", "value: 8"), "not a string"),
    (("{runAsUser: 1000, runAsGroup: 1000}", "{runAsNonRoot: true}"), "runAsNonRoot without a runAsUser"),
    (("labels: {app: web}", "labels: {app: web, 'a=b': c}"), "not a label's name"),
])  # fmt: skip
def test_what_a_hostile_file_tries_is_refused(change: tuple[str, str], says: str) -> None:
    text = TEXT.replace("{name: data, hostPath:", "{name: claim, persistentVolumeClaim: {claimName: data}}\n"
                        "  - {name: data, hostPath:")  # fmt: skip
    assert model.parse(text)
    bad = text.replace(*change)
    assert bad != text, change
    with pytest.raises(UsageError, match=says):
        model.parse(bad)


def test_pod_and_container_security_contexts_merge() -> None:
    pod_level = "      restartPolicy: Never\n      securityContext: {runAsNonRoot: true, runAsUser: 1000}"
    text = TEXT.replace("      restartPolicy: Never", pod_level)
    text = text.replace("{runAsUser: 1000, runAsGroup: 1000}", "{runAsUser: 0}")
    with pytest.raises(UsageError, match="runAsNonRoot"):
        model.parse(text)
    text = text.replace("{runAsUser: 0}", "{readOnlyRootFilesystem: true}")
    assert model.parse(text).pods[1].containers[0].flags["user"] == "1000"


def test_kubernetes_pull_default_and_host_network_ports() -> None:
    plan = model.parse(TEXT.replace("image: busybox\n    command: [httpd", "image: busybox:1\n    command: [httpd"))
    httpd, writer = plan.pods[0].containers
    assert httpd.flags["pull"] == writer.flags["pull"] == "missing"  # (:latest too: sdc's default, said)
    with pytest.raises(UsageError, match="hostNetwork"):
        model.parse(TEXT.replace("  restartPolicy: Always", "  restartPolicy: Always\n  hostNetwork: true"))
    plan = model.parse(TEXT.replace("  restartPolicy: Always", "  restartPolicy: Always\n  hostNetwork: true")
                       .replace("hostPort: 8098", "hostPort: 80"))  # fmt: skip
    assert plan.pods[0].host_network and plan.pods[0].publish == ()


def test_an_alias_bomb_is_bounded() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(8))  # fmt: skip
    with pytest.raises(UsageError, match="an alias"):
        model.parse(bomb)


def test_python_tags_are_not_yaml_here() -> None:
    with pytest.raises(UsageError, match="not YAML"):
        model.parse("!!python/object/apply:os.system ['true']\n")


YAMLISH = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                           st.sampled_from(["apiVersion", "kind", "metadata", "name", "spec", "containers", "image",
                                            "volumes", "emptyDir", "configMap", "items", "key", "path", "ports",
                                            "hostPort", "containerPort", "x"]), inner, max_size=4),
                       max_leaves=15)  # fmt: skip


@settings(max_examples=300)
@given(YAMLISH)
def test_any_document_is_a_plan_or_one_usage_error(doc: object) -> None:
    """Whatever the file holds, parse returns a plan or says what is wrong in one line."""
    for data in (doc, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": doc}):
        try:
            model.parse(yaml.safe_dump(data))
        except UsageError as exc:
            assert "\n" not in exc.message
