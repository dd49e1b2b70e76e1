"""Quadlet's unit files (podman-systemd.unit(5)) as services sdc runs: the generator
(generator.py), the files' syntax (unitfile.py) and what a .container file's keys mean (container.py)."""
