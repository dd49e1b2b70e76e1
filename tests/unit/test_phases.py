"""$SDC_PROFILE's marks (sdcontainer/phases.py), which bench/run's profile of run --rm reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from sdcontainer import phases


def test_marks_go_to_the_profile_file_only_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(phases, "_FILE", str(tmp_path / "p"))
    phases.mark("a")
    phases.mark("b c")
    lines = (tmp_path / "p").read_text().splitlines()
    assert [line.split(" ", 2)[2] for line in lines] == ["a", "b c"]
    assert int(lines[0].split()[0]) <= int(lines[1].split()[0])
    monkeypatch.setattr(phases, "_FILE", "")
    phases.mark("d")
    assert len((tmp_path / "p").read_text().splitlines()) == 2
