"""The demo's live terminal table: one row per container, redrawn every second.

On a terminal the table is redrawn in place, with the latest state changes below it. When the
output is a file or a pipe (a test, CI), each refresh is one plain block instead, so the log
reads top to bottom.
"""

from collections import deque
from typing import TextIO

from sandbox.demo_cgroups import Limits
from sandbox.demo_record import ContainerRecord

_CLEAR = "\x1b[H\x1b[2J"
_COLUMNS = ("CONTAINER", "READ IOPS", "WRITE IOPS", "LIMIT (r/w IOPS)", "STATE")
_STATE_MARK = {
    "ok": "ok",
    "detected": "DETECTED  over threshold",
    "annotated": "ANNOTATED limit decided",
    "throttled": "THROTTLED by the kernel",
    "released": "released",
}


class LiveTable:
    def __init__(self, out: TextIO, *, title: str, simulated: bool, events: int = 8) -> None:
        self._out = out
        self._title = title + ("  [SIMULATED: no real cgroups]" if simulated else "")
        self._events: deque[str] = deque(maxlen=events)
        self._interactive = out.isatty()

    def event(self, at: float, text: str) -> None:
        line = f"{at:+7.1f}s  {text}"
        self._events.append(line)
        if not self._interactive:
            print(line, file=self._out, flush=True)

    def render(self, at: float, phase: str, records: list[ContainerRecord]) -> None:
        rows = [_COLUMNS]
        for record in records:
            reads, writes = record.iops()
            rows.append(
                (
                    record.name,
                    f"{reads:.0f}",
                    f"{writes:.0f}",
                    _limit_text(record.current_limit),
                    _STATE_MARK[record.state],
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
        lines = [f"{self._title}   t={at:+.0f}s   {phase}", ""]
        lines += [
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            for row in rows
        ]
        if self._interactive:
            lines += ["", "recent changes:", *self._events]
            self._out.write(_CLEAR + "\n".join(lines) + "\n")
        else:
            self._out.write("\n".join(lines[2:]) + "\n")
        self._out.flush()


def _limit_text(limits: Limits) -> str:
    if not limits.any():
        return "-"
    reads = str(limits.read_iops) if limits.read_iops else "-"
    writes = str(limits.write_iops) if limits.write_iops else "-"
    return f"{reads}/{writes}"
