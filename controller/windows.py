"""``for`` windows: did a condition hold at every evaluation step of the last N seconds?

Prometheus' meaning of ``for``: the condition is true now and was true at every earlier
evaluation back to one at least ``for`` ago. The steps are the distinct times in the history
frame before ``now`` plus ``now`` itself (the current frame); a container without a row at a
step did not hold the condition there, and if the history does not reach back ``for``
seconds, no container has held it yet.
"""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from controller.container_index import Positions
from controller.expressions import Array, Expression
from controller.frames import RATE_COLUMNS

Mask = npt.NDArray[np.bool_]

# Steps are compared with a little slack so that float timestamps that should be equal are.
EPSILON = 1e-3


class StepColumns:
    """History rows as expression columns: rates from history, the rest from the container."""

    def __init__(
        self,
        rates: dict[str, npt.NDArray[np.float64]],
        positions: Positions,
        containers: "ColumnsByName",
    ) -> None:
        self._rates = rates
        self._positions = positions
        self._containers = containers
        self.length = len(positions)

    def column(self, name: str) -> Array:
        if name in self._rates:
            return self._rates[name]
        return self._containers.column(name)[self._positions]


class ColumnsByName:
    """Expression columns backed by a dict of arrays (the current containers)."""

    def __init__(self, columns: dict[str, Array], length: int) -> None:
        self._columns = columns
        self.length = length

    def column(self, name: str) -> Array:
        return self._columns[name]

    def numbers(self, name: str) -> npt.NDArray[np.float64]:
        return np.asarray(self._columns[name], dtype=np.float64)


class History:
    """The history rows needed for this evaluation, already matched to current containers."""

    def __init__(
        self,
        times: npt.NDArray[np.float64],
        positions: Positions,
        rates: dict[str, npt.NDArray[np.float64]],
        containers: ColumnsByName,
        now: float,
    ) -> None:
        rows = np.flatnonzero((positions >= 0) & (times < now - EPSILON))
        # pd.unique hashes; sorting a million times would cost more than the whole evaluation.
        self._steps = np.sort(pd.unique(times[rows]))
        # One row per container and step; a duplicated row must not count twice.
        slot = positions[rows].astype(np.int64) * len(self._steps)
        slot += np.searchsorted(self._steps, times[rows])
        if len(slot) and np.bincount(slot).max() > 1:
            _, first = np.unique(slot, return_index=True)
            rows = rows[np.sort(first)]
        self._positions = positions[rows]
        self._times = times[rows]
        self._rates = {name: rates[name][rows] for name in RATE_COLUMNS}
        self._containers = containers
        self._now = now
        self._windows: dict[float, tuple[Positions, StepColumns, int] | None] = {}

    @property
    def steps(self) -> Sequence[float]:
        return [float(step) for step in self._steps]

    def held(self, expression: Expression, seconds: float, now_holds: Mask) -> Mask:
        """Rows of the current frame where ``expression`` held at every step of ``seconds``."""
        if seconds <= 0 or not now_holds.any():
            return now_holds
        window = self._window(seconds)
        if window is None:
            return np.zeros_like(now_holds)
        positions, columns, needed = window
        if needed == 0:
            return now_holds
        holds = expression.holds(columns)
        counts = np.bincount(positions[holds], minlength=len(now_holds))
        result: Mask = now_holds & (counts == needed)
        return result

    def _window(self, seconds: float) -> tuple[Positions, StepColumns, int] | None:
        if seconds not in self._windows:
            self._windows[seconds] = self._build_window(seconds)
        return self._windows[seconds]

    def _build_window(self, seconds: float) -> tuple[Positions, StepColumns, int] | None:
        start = self._now - seconds + EPSILON
        if start >= self._now:
            return self._empty_window()
        earlier = self._steps[self._steps <= start]
        if not len(earlier):
            return None  # the history does not reach back far enough for anyone
        anchor = earlier[-1]
        needed = int(np.count_nonzero(self._steps >= anchor))
        rows = self._times >= anchor
        rates = {name: values[rows] for name, values in self._rates.items()}
        positions = self._positions[rows]
        return positions, StepColumns(rates, positions, self._containers), needed

    def _empty_window(self) -> tuple[Positions, StepColumns, int]:
        positions = np.zeros(0, dtype=np.intp)
        rates = {name: np.zeros(0) for name in RATE_COLUMNS}
        return positions, StepColumns(rates, positions, self._containers), 0
