"""Kubernetes YAML in and out: `sdc kube play`, `kube down` (play.py) of what model.py reads."""
