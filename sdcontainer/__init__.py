"""sdc: containers as transient systemd units on btrfs snapshots."""

__version__ = "0.1.0"
