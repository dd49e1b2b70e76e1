"""bench/run says which measures moved beyond noise since its last run (issue 26)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location("bench", Path(__file__).resolve().parents[2] / "bench" / "bench.py")
assert spec is not None and spec.loader is not None
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def test_moves_are_judged_by_the_ratio_to_the_peer_where_there_is_one() -> None:
    before = {"run": {"median_ms": 80.0, "min_ms": 70.0, "max_ms": 90.0, "ratio_to_podman": 0.80},
              "ps": {"median_ms": 28.0, "min_ms": 27.0, "max_ms": 30.0},
              "rm": {"median_ms": 700.0, "min_ms": 700.0, "max_ms": 700.0},
              "gone": {"median_ms": 1.0, "min_ms": 1.0, "max_ms": 1.0}}  # fmt: skip
    after = {"run": {"median_ms": 95.0, "min_ms": 90.0, "max_ms": 99.0, "ratio_to_podman": 0.82},  # both slower
             "ps": {"median_ms": 29.5, "min_ms": 29.0, "max_ms": 31.0},  # within its spread: noise
             "rm": {"median_ms": 560.0, "min_ms": 560.0, "max_ms": 560.0},  # one sample, 20 % faster
             "new": {"median_ms": 5.0, "min_ms": 5.0, "max_ms": 5.0}}  # fmt: skip
    assert bench.moved(before, after) == ["rm, median: 700.00 ms -> 560.00 ms (faster by 20%)"]
    after["run"]["ratio_to_podman"] = 1.0
    assert bench.moved(before, after)[0] == "run, ratio to podman: 0.80x -> 1.00x (slower by 25%)"
