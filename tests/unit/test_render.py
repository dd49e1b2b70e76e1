"""What a pull shows on a terminal: a line a layer, each rewritten in place."""

from __future__ import annotations

import io
import re

from sdcontainer.render import PullProgress

A, B, C = ("sha256:" + c * 64 for c in "abc")


def screen(output: str) -> list[str]:
    """The lines a terminal shows after output (cursor up, carriage return, erase to the end of line)."""
    lines, row = [""], 0
    for token in re.findall(r"\033\[(\d*)([AK])|(\r)|(\n)|([^\033\r\n]+)", output):
        count, code, cr, nl, text = token
        if code == "A":
            row -= int(count or 1)
        elif code == "K":
            lines[row] = ""
        elif nl:
            row += 1
            if row == len(lines):
                lines.append("")
        elif text:
            lines[row] += text
    return lines[:-1] if lines[-1] == "" else lines


def progress(*, tty: bool) -> tuple[PullProgress, io.StringIO]:
    p, out = PullProgress(quiet=False), io.StringIO()
    p.out, p.tty = out, tty
    return p, out


def test_a_terminal_shows_each_layer_on_its_own_line_rewritten_in_place() -> None:
    p, out = progress(tty=True)
    for digest in (A, B, C):
        p.layer(digest, 2_000_000)
    p.finished(A, "Already exists")
    p.advance(B, "Downloading", 1_000_000)
    p.last = 0.0  # what the throttle would let through a tenth of a second later
    p.advance(C, "Downloading", 500_000)
    p.finished(C, "Download complete")
    p.last = 0.0
    p.advance(B, "Extracting", 2_000_000)
    assert screen(out.getvalue()) == [
        "aaaaaaaaaaaa: Already exists",
        "bbbbbbbbbbbb: Extracting  [==============================] 2MB/2MB",
        "cccccccccccc: Download complete",
    ]
    p.finished(B, "Pull complete")
    assert screen(out.getvalue())[1] == "bbbbbbbbbbbb: Pull complete" and p.pulled == 1


def test_redraws_are_ten_a_second_at_most_but_ends_always_show() -> None:
    p, out = progress(tty=True)
    p.layer(A, 1000)
    drawn = out.getvalue()
    for done in range(0, 1000, 10):
        p.advance(A, "Downloading", done)
    assert out.getvalue() == drawn  # all within a tenth of a second of the last drawing
    p.finished(A, "Pull complete")
    assert screen(out.getvalue()) == ["aaaaaaaaaaaa: Pull complete"]


def test_elsewhere_a_line_a_layer_when_it_is_done() -> None:
    p, out = progress(tty=False)
    p.layer(A, 10)
    p.layer(B, 10)
    p.finished(A, "Already exists")
    p.advance(B, "Downloading", 5)
    p.finished(B, "Download complete")
    p.finished(B, "Pull complete")
    assert out.getvalue() == "aaaaaaaaaaaa: Already exists\nbbbbbbbbbbbb: Pull complete\n"
