"""`sdc kube play` and `kube down` (sdcontainer/kube): a file's Pod and Deployment as sdc's pods."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.conftest import Sdc, store_state, unit_property
from tests.integration.test_pods import fetch, held_by_pod, status

PLAYED = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: webconf}
data:
  index.html: "hello from a configMap\\n"
  app.ini: "mode=prod\\n"
---
apiVersion: v1
kind: Pod
metadata:
  name: NAME-web
  labels: {app: web}
spec:
  restartPolicy: Always
  containers:
  - name: httpd
    image: IMAGE
    command: [httpd, -f, -p, "80", -h, /www]
    ports: [{containerPort: 80, hostPort: 8098, hostIP: 127.0.0.1}]
    volumeMounts:
    - {name: site, mountPath: /www}
    - {name: scratch, mountPath: /scratch}
    resources: {limits: {memory: 64Mi, cpu: 500m}}
  - name: writer
    image: IMAGE
    command: [sh, -c]
    args: ["echo $MODE > /scratch/mode; echo written > /data/by-writer; exec sleep 1000"]
    env: [{name: MODE, value: prod}]
    volumeMounts: [{name: scratch, mountPath: /scratch}, {name: data, mountPath: /data}]
    securityContext: {readOnlyRootFilesystem: true, capabilities: {drop: [NET_RAW]}}
  volumes:
  - {name: site, configMap: {name: webconf, items: [{key: index.html, path: index.html}]}}
  - {name: scratch, emptyDir: {}}
  - {name: data, hostPath: {path: HOSTDIR, type: DirectoryOrCreate}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: NAME-api}
spec:
  replicas: 1
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      restartPolicy: Never
      containers:
      - name: api
        image: IMAGE
        args: [sh, -c, "cat /etc/app/app.ini; id -u; stat -c %a /etc/app/app.ini; exec sleep 1000"]
        volumeMounts: [{name: conf, mountPath: /etc/app}]
        securityContext: {runAsUser: 1000, runAsGroup: 1000}
      volumes: [{name: conf, configMap: {name: webconf, defaultMode: 0444}}]
"""


def test_kube_play_of_a_pod_and_a_deployment(sdc: Sdc, image: str, name: str, store: Path, tmp_path: Path) -> None:
    """The issue's must-show: a Pod and a Deployment with a hostPath, an emptyDir and a configMap
    played; what they declare is what runs; `kube down` removes it all but the host's files."""
    before = store_state(store)
    host_dir = tmp_path / "data"
    text = PLAYED.replace("NAME", name).replace("IMAGE", image).replace("HOSTDIR", str(host_dir))
    played = tmp_path / "app.yaml"
    played.write_text(text)
    web, api = f"{name}-web", f"{name}-api-pod"
    try:
        out = sdc.ok("kube", "play", "--network", "bridge", str(played))
        assert out.count("Pod:\n") == 2 and len(out.split()) == 9, out  # two pods' IDs, three containers' IDs
        assert fetch(8098) == "hello from a configMap\n"
        assert sdc.ok("exec", f"{web}-httpd", "cat", "/scratch/mode") == "prod\n"  # the pod's emptyDir, shared
        assert (host_dir / "by-writer").read_text() == "written\n"
        assert sdc.ok("exec", f"{web}-httpd", "ls", "/www") == "index.html\n"  # the items asked for alone
        proc = sdc("exec", f"{web}-writer", "touch", "/x")
        assert proc.returncode != 0 and "Read-only" in proc.stderr, proc
        assert unit_property(f"sdc-{web}-httpd.service", "MemoryMax") == str(64 * 2**20)
        assert unit_property(f"sdc-{web}-httpd.service", "CPUQuotaPerSecUSec") == "500ms"
        assert unit_property(f"sdc-{web}-httpd.service", "Restart") == "always"
        assert unit_property(f"sdc-{api}-api.service", "Restart") == "no"
        assert sdc.ok("logs", f"{api}-api") == "mode=prod\n1000\n444\n"
        [info] = json.loads(sdc.ok("pod", "inspect", web))
        assert info["NumContainers"] == 2 and info["Labels"] == {"app": "web"}, info
        assert status(sdc, f"{api}-api") == "running"
        proc = sdc("kube", "play", "--network", "bridge", str(played))
        assert proc.returncode != 0 and proc.stderr.count("\n") == 1 and "exists already" in proc.stderr, proc
        web_id = info["Id"]
        assert sdc.ok("kube", "down", str(played)) == f"Pods removed:\n{web}\n{api}\n"
        assert held_by_pod(web_id) == [] and sdc("pod", "inspect", web).returncode != 0
        assert sdc.ok("volume", "ls", "-q") == ""  # the emptyDir's volume went with it
        assert (host_dir / "by-writer").exists()  # the host's stay
        assert store_state(store) == before
    finally:
        sdc("kube", "down", str(played))


def test_a_field_sdc_does_not_play_is_named(sdc: Sdc, image: str, name: str, store: Path, tmp_path: Path) -> None:
    before = store_state(store)
    base = PLAYED.replace("NAME", name).replace("IMAGE", image).replace("HOSTDIR", str(tmp_path / "d"))
    (tmp_path / "good.yaml").write_text(base)
    for change, says in (
        (("    resources:", "    livenessProbe: {exec: {command: [true]}}\n    resources:"),
         "Pod/NAME-web: spec.containers[0].livenessProbe: not supported by sdc"),
        (("  replicas: 1", "  replicas: 3"), "Deployment/NAME-api: spec.replicas 3"),
        (("{name: conf, configMap: {name: webconf, defaultMode: 0444}}", "{name: conf, secret: {secretName: s}}"),
         "spec.volumes[0].secret: not supported by sdc"),
        (("configMap: {name: webconf, defaultMode", "configMap: {name: other, defaultMode"),
         "no ConfigMap other in the file"),
        (("path: index.html}", "path: ../../etc/x}"), "not a relative path"),
        (("memory: 64Mi", "memory: lots"), "is not a quantity"),
        (("kind: ConfigMap", "kind: Secret"), "kind Secret of v1: not one sdc plays"),
        (("hostPort: 8098", "hostPort: [1]"), "hostPort: not an integer"),
        (("data:\n", "data: [\n"), "not YAML"),
    ):
        text = base.replace(*change)
        assert text != base, change
        (tmp_path / "bad.yaml").write_text(text)
        proc = sdc("kube", "play", str(tmp_path / "bad.yaml"))
        assert proc.returncode != 0 and proc.stderr.count("\n") == 1, (change, proc)
        assert says.replace("NAME", name) in proc.stderr, (change, proc.stderr)
    # an emptyDir's volume that is there already is someone's data: refused, and kept
    sdc.ok("volume", "create", f"{name}-web-scratch")
    proc = sdc("kube", "play", "--network", "bridge", str(tmp_path / "good.yaml"))
    assert proc.returncode != 0 and proc.stderr.count("\n") == 1 and "is there already" in proc.stderr, proc
    assert sdc.ok("volume", "ls", "-q") == f"{name}-web-scratch\n" and sdc.ok("pod", "ls", "-q") == ""
    sdc.ok("volume", "rm", f"{name}-web-scratch")
    # a container's flags are checked before anything is made: a bad image's pull fails after the pod
    # is made, and the pod goes again
    (tmp_path / "bad.yaml").write_text(base.replace(f"image: {image}", "image: 127.0.0.1:9/none:1", 1))
    proc = sdc("kube", "play", "--network", "bridge", str(tmp_path / "bad.yaml"))
    assert proc.returncode != 0 and sdc.ok("pod", "ls", "-q") == "", proc
    assert store_state(store) == before


def _settings(sdc: Sdc, container: str) -> dict[str, object]:
    [info] = json.loads(sdc.ok("inspect", container))
    config, host = info["Config"], info["HostConfig"]
    return {"Config": {k: config.get(k) for k in ("Env", "Cmd", "Entrypoint", "User", "WorkingDir", "Image")},
            "Host": {k: host.get(k) for k in ("Memory", "NanoCpus", "CpuShares", "ReadonlyRootfs", "CapDrop",
                                              "RestartPolicy", "Binds")},
            "Mounts": sorted(m["Destination"] for m in info["Mounts"])}  # fmt: skip


def test_kube_generate_validates_and_plays_back(sdc: Sdc, image: str, name: str, tmp_path: Path) -> None:
    """The issue's must-show: `kube generate` of what `kube play` made validates against Kubernetes'
    OpenAPI schema (strictly: kubectl's --validate=strict), and plays back to the same result:
    the same containers' settings, the same port served, the same YAML generated again."""
    import yaml

    from tests import kubeschema

    text = PLAYED.replace("NAME", name).replace("IMAGE", image).replace("HOSTDIR", str(tmp_path / "data"))
    (tmp_path / "app.yaml").write_text(text)
    web, api = f"{name}-web", f"{name}-api-pod"
    containers = (f"{web}-httpd", f"{web}-writer", f"{api}-api")
    generated = tmp_path / "generated.yaml"
    try:
        sdc.ok("kube", "play", "--network", "bridge", str(tmp_path / "app.yaml"))
        before = {c: _settings(sdc, c) for c in containers}
        sdc.ok("kube", "generate", "-f", str(generated), web, api)
        docs = list(yaml.safe_load_all(generated.read_text()))
        assert [d["kind"] for d in docs] == ["ConfigMap", "Pod", "ConfigMap", "Pod"], docs
        for doc in docs:
            assert kubeschema.validate(doc) == [], (doc, kubeschema.validate(doc))
        sdc.ok("kube", "down", str(tmp_path / "app.yaml"))
        sdc.ok("kube", "play", "--network", "bridge", str(generated))
        assert fetch(8098) == "hello from a configMap\n"
        assert sdc.ok("logs", f"{api}-api") == "mode=prod\n1000\n444\n"
        after = {c: _settings(sdc, c) for c in containers}
        for c in containers:  # the configMap's files are bound from the pod's own directory, as before
            assert after[c] == before[c], (c, before[c], after[c])
        assert sdc.ok("kube", "generate", web, api) == generated.read_text()
        assert sdc.ok("kube", "down", str(generated)) == f"Pods removed:\n{web}\n{api}\n"
        # what a Pod cannot say is an error, not a container less confined when played back
        sdc.ok("run", "-d", "--name", name, "--init", image, "sleep", "1000")
        proc = sdc("kube", "generate", name)
        assert proc.returncode != 0 and "--init" in proc.stderr and proc.stderr.count("\n") == 1, proc
        sdc.ok("rm", "-f", name)
    finally:
        sdc("kube", "down", str(tmp_path / "app.yaml"))
        if generated.exists():
            sdc("kube", "down", str(generated))
