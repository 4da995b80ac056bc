"""Recent per-container rates in memory, one step per cycle, for the rules' ``for`` windows.

A range query over 100k containers is far too slow for every cycle (DESIGN.md), so each cycle's
instant result is kept as one step. Prometheus' history seeds the buffer only when memory cannot
cover the window: after a (re)start, after a failed cycle left a gap, or when a reloaded rule
set needs a longer window. That keeps a restarted controller deciding as one that kept running.
"""

import pandas as pd

KEY = ["namespace", "pod", "container"]
RATES = ["read_iops", "write_iops", "total_iops", "read_bps", "write_bps"]
COLUMNS = ["time", *KEY, *RATES]


class History:
    """Steps of the history frame (``time`` + key + rates), oldest first."""

    def __init__(self) -> None:
        self._steps: list[pd.DataFrame] = []
        self._covered_from: float | None = None  # no gap in memory from here on
        self._last: float | None = None

    def covers(self, start: float, interval: float) -> bool:
        """Whether memory holds every step from ``start`` on, with no gap longer than a step."""
        return self._covered_from is not None and self._covered_from <= start + interval

    def seed(self, frame: pd.DataFrame, start: float, now: float) -> None:
        """Replace memory with Prometheus' history covering ``start``..``now``."""
        self._steps = [frame[COLUMNS]] if len(frame) else []
        self._covered_from = start
        self._last = now

    def add(self, current: pd.DataFrame, now: float, interval: float) -> None:
        """Append this cycle's rates as the step at ``now``; a late cycle breaks coverage."""
        if self._last is not None and now - self._last > 2 * interval:
            self._covered_from = None
        step = current[KEY + RATES].assign(time=now)[COLUMNS]
        self._steps.append(step)
        if self._covered_from is None:
            self._covered_from = now
        self._last = now

    def gap(self) -> None:
        """A cycle failed: memory no longer covers the window without holes."""
        self._covered_from = None

    def frame(self, start: float) -> pd.DataFrame:
        """Every step with ``time`` >= ``start``; drops older steps from memory."""
        kept = []
        for step in self._steps:
            if len(step) == 0 or step["time"].max() < start:
                continue
            kept.append(step if step["time"].min() >= start else step[step["time"] >= start])
        self._steps = kept
        if not kept:
            return pd.DataFrame({column: [] for column in COLUMNS}).astype(
                {"time": float, **dict.fromkeys(RATES, float)}
            )
        return pd.concat(kept, ignore_index=True)
