"""Recent per-container rates in memory, one step per cycle, for the rules' ``for`` windows.

A range query over 100k containers is far too slow for every cycle (DESIGN.md), so each cycle's
instant result is kept as one step. Prometheus' history seeds the buffer only when memory cannot
cover the window: after a (re)start, after a failed cycle left a gap, or when a reloaded rule
set needs a longer window; the steps of runs the scheduler skipped are read back from it too.
That keeps a restarted controller deciding as one that kept running.

Memory stays small at 100k containers: a step is an array of integer container codes and a
matrix of rates, the keys' strings are held once. The engine is handed only the rows that can
matter (see :meth:`History.frame`). Ten minutes of 30 s steps are ~80 MB at 100k containers, so
codes are int32 and ``total_iops`` is not stored where it is ``read_iops + write_iops`` (as
Prometheus' frames make it): recomputed, it is the same float64 sum, bit for bit.
"""

from collections.abc import Collection, Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

KEY = ["namespace", "pod", "container"]
RATES = ["read_iops", "write_iops", "total_iops", "read_bps", "write_bps"]
COLUMNS = ["time", *KEY, *RATES]
_TOTAL = RATES.index("total_iops")

Key = tuple[str, str, str]
Codes = npt.NDArray[np.int32]  # 100k containers and their churn fit in int32
Rates = npt.NDArray[np.float64]


@dataclass(frozen=True)
class _Step:
    time: float
    codes: Codes
    rates: Rates  # one row per code: RATES in order, without ``total_iops`` where it is derived

    def rows(self, keep: npt.NDArray[np.bool_]) -> Rates:
        """The kept rows' rates, all RATES in order."""
        rates = self.rates[keep]
        if rates.shape[1] == len(RATES):
            return rates
        total = rates[:, 0] + rates[:, 1]  # read_iops + write_iops, as the frames sum them
        return np.insert(rates, _TOTAL, total, axis=1)


class History:
    """Steps of the history frame, oldest first, keys encoded as integers."""

    def __init__(self) -> None:
        self._codes: dict[Key, int] = {}
        self._keys: list[Key] = []
        self._steps: list[_Step] = []
        self._covered_from: float | None = None  # no gap in memory from here on
        self._last: float | None = None

    def covers(self, start: float, interval: float) -> bool:
        """Whether memory holds every step from ``start`` on, with no gap longer than a step."""
        return self._covered_from is not None and self._covered_from <= start + interval

    def seed(self, frames: Iterable[pd.DataFrame], start: float, now: float) -> None:
        """Replace memory with Prometheus' history covering ``start``..``now``, read in parts
        (each part is encoded before the next is read, so only one is ever held as strings)."""
        self._steps = []
        for frame in frames:
            for time, rows in frame.groupby("time", sort=True):
                self._steps.append(self._encode(float(str(time)), rows))
        self._steps.sort(key=lambda step: step.time)
        self._covered_from = start
        self._last = now

    def missed_steps(self, now: float, interval: float) -> int:
        """How many steps on the grid ending at ``now`` fall between the last step in memory
        and ``now``: cycles that did not run (a slow cycle made the scheduler skip or coalesce
        them). Jitter under half a step is not a missed step."""
        if self._last is None:
            return 0
        return max(0, round((now - self._last) / interval) - 1)

    def fill(self, frames: Iterable[pd.DataFrame], end: float) -> None:
        """Add Prometheus' steps for runs that were missed, up to ``end``; coverage holds."""
        for frame in frames:
            for time, rows in frame.groupby("time", sort=True):
                self._steps.append(self._encode(float(str(time)), rows))
        self._steps.sort(key=lambda step: step.time)
        self._last = end

    def add(self, current: pd.DataFrame, now: float, interval: float) -> None:
        """Append this cycle's rates as the step at ``now``; a late cycle breaks coverage."""
        if self._last is not None and now - self._last > 2 * interval:
            self._covered_from = None
        self._steps.append(self._encode(now, current))
        if self._covered_from is None:
            self._covered_from = now
        self._last = now

    def gap(self) -> None:
        """A cycle failed: memory no longer covers the window without holes."""
        self._covered_from = None

    def frame(
        self, start: float, relevant: Collection[Key], present: Collection[Key]
    ) -> pd.DataFrame:
        """The steps from ``start`` on, as the engine's history frame, cut to what can matter.

        ``relevant`` are the containers whose history can change a decision now (a rule holds
        for them now, or they hold a limit); every other container's rows are left out. A step
        the relevant containers all miss keeps one row of another container of the current
        frame (``present``): the steps the engine sees, and the interval it infers from them
        when not told, stay what they would be with every row. Steps older than ``start`` are
        dropped from memory.
        """
        self._steps = [step for step in self._steps if step.time >= start]
        self._forget_unused_keys()
        wanted = self._code_array(relevant)
        present_codes: Codes | None = None  # looked up only if a step needs it
        parts: list[tuple[float, Codes, Rates]] = []
        for step in self._steps:
            keep = np.isin(step.codes, wanted)
            if not keep.any():
                if present_codes is None:
                    present_codes = self._code_array(present)
                filler = np.flatnonzero(np.isin(step.codes, present_codes))[:1]
                keep = np.zeros(len(step.codes), dtype=bool)
                keep[filler] = True
            parts.append((step.time, step.codes[keep], step.rows(keep)))
        return self._decode(parts)

    def _code_array(self, keys: Collection[Key]) -> Codes:
        codes = [self._codes[key] for key in keys if key in self._codes]
        return np.asarray(codes, dtype=np.int32)

    def _encode(self, time: float, frame: pd.DataFrame) -> _Step:
        keys = zip(frame["namespace"], frame["pod"], frame["container"], strict=True)
        # A new key's code is the dict's size as it is added: its position in the dict's order.
        table = self._codes
        codes = [table.setdefault(key, len(table)) for key in keys]
        if len(table) > len(self._keys):
            self._keys = list(table)
        read, write, total = (
            frame[name].to_numpy(dtype=np.float64)
            for name in ("read_iops", "write_iops", "total_iops")
        )
        derived = np.array_equal(total, read + write, equal_nan=True)
        stored = [name for name in RATES if not (derived and name == "total_iops")]
        rates = frame[stored].to_numpy(dtype=np.float64, copy=True)
        return _Step(time, np.array(codes, dtype=np.int32), rates)

    def _forget_unused_keys(self) -> None:
        """Containers come and go: renumber once most codes belong to none of the steps."""
        marked = np.zeros(len(self._keys), dtype=bool)
        for step in self._steps:
            marked[step.codes] = True  # a scatter: np.unique's sort took 0.5 s at 100k
        used = np.flatnonzero(marked)
        if len(self._keys) <= 2 * len(used) + 1024:
            return
        renumber = np.full(len(self._keys), -1, dtype=np.int32)
        renumber[used] = np.arange(len(used), dtype=np.int32)
        self._keys = [self._keys[code] for code in used]
        self._codes = {key: code for code, key in enumerate(self._keys)}
        self._steps = [_Step(s.time, renumber[s.codes], s.rates) for s in self._steps]

    def _decode(self, parts: list[tuple[float, Codes, Rates]]) -> pd.DataFrame:
        if not parts:
            codes = np.zeros(0, dtype=np.int32)
            rates = np.zeros((0, len(RATES)))
            times = np.zeros(0)
        else:
            codes = np.concatenate([p[1] for p in parts])
            rates = np.concatenate([p[2] for p in parts])
            times = np.concatenate([np.full(len(p[1]), p[0]) for p in parts])
        keys = [self._keys[code] for code in codes]
        columns: dict[str, object] = {"time": times}
        for position, name in enumerate(KEY):
            columns[name] = pd.Series([key[position] for key in keys], dtype=str)
        for position, name in enumerate(RATES):
            columns[name] = rates[:, position]
        return pd.DataFrame(columns, columns=COLUMNS)
