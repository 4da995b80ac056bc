"""``for`` windows: did a condition hold at every evaluation step of the last N seconds?

Prometheus' meaning of ``for``: the condition is true now and was true at every earlier
evaluation back to one at least ``for`` ago. Evaluations are on a grid ``interval`` apart
ending at ``now`` (the current frame); each history row belongs to the nearest grid step, so
jittered timestamps still count. ``for: 5m`` at a 30s interval needs the 10 steps before now
and now itself. A container without a row at a step did not hold the condition there, even
when no container has a row there; so when the history does not reach back ``for`` seconds,
no container has held it yet. The interval is given (the service's INTERVAL) or, when 0,
taken as the median spacing of the history's distinct times.

Matching a million history rows to containers means hashing their key strings, which would
cost more than everything else together; so rows are matched lazily: a condition that names
only rate and key columns is evaluated on the history rows first, and only rows where it
holds are matched. A condition that needs the container's applied limits or node is
evaluated on the rows of the candidate containers' pods only.
"""

import math

import numpy as np
import numpy.typing as npt
import pandas as pd

from controller.container_index import ContainerIndex, Objects, Positions
from controller.expressions import Array, Expression
from controller.frames import KEY_COLUMNS, LIMIT_COLUMNS

Mask = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]

# Steps are compared with a little slack so that float timestamps that should be equal are.
EPSILON = 1e-3
_CONTAINER_COLUMNS = frozenset({*LIMIT_COLUMNS, "node"})


class ColumnsByName:
    """Expression columns backed by a dict of arrays (the containers under evaluation)."""

    def __init__(self, columns: dict[str, Array], length: int) -> None:
        self._columns = columns
        self.length = length

    def column(self, name: str) -> Array:
        return self._columns[name]

    def numbers(self, name: str) -> Floats:
        return np.asarray(self._columns[name], dtype=np.float64)


class _Rows:
    """Some history rows as expression columns; limits and node come from their container."""

    def __init__(
        self, history: "History", rows: Positions, positions: Positions | None = None
    ) -> None:
        self._history = history
        self._rows = rows
        self._positions = positions
        self.length = len(rows)

    def column(self, name: str) -> Array:
        if name in _CONTAINER_COLUMNS:
            assert self._positions is not None, "container columns need matched rows"
            return self._history.containers.column(name)[self._positions]
        return self._history.column(name)[self._rows]


class History:
    """History rows before ``now``, matched to the current containers on demand."""

    def __init__(  # noqa: PLR0917 (one call site, each argument a different frame part)
        self,
        times: Floats,
        keys: tuple[Objects, Objects, Objects],
        rates: dict[str, Floats],
        index: ContainerIndex,
        containers: ColumnsByName,
        now: float,
        interval: float,
    ) -> None:
        if interval <= 0:
            # pd.unique hashes; sorting a million times first would cost more.
            steps = np.sort(pd.unique(times))
            steps = np.append(steps[steps < now - EPSILON], now)
            interval = float(np.median(np.diff(steps))) if len(steps) > 1 else 0.0
        self._interval = interval
        # Steps back from now; rows at or after now (slot 0) are ignored: the current frame is
        # the evaluation at now.
        with np.errstate(invalid="ignore", divide="ignore"):
            slots = np.rint((now - times) / interval) if interval > 0 else np.zeros(len(times))
        self._slots = np.nan_to_num(slots, nan=-1.0, posinf=-1.0, neginf=-1.0).astype(np.int64)
        self._oldest = int(self._slots.max()) if len(self._slots) else 0
        self._columns: dict[str, Array] = dict(rates)
        self._columns.update(zip(KEY_COLUMNS, keys, strict=True))
        self._index = index
        self.containers = containers
        self._windows: dict[float, tuple[Positions, int] | None] = {}

    def column(self, name: str) -> Array:
        return self._columns[name]

    def held(self, expression: Expression, seconds: float, now_holds: Mask) -> Mask:
        """Containers where ``expression`` holds now (``now_holds``) and held for ``seconds``."""
        if seconds <= 0 or not now_holds.any():
            return now_holds
        window = self._window(seconds)
        if window is None:
            return np.zeros_like(now_holds)
        rows, needed = window
        if needed == 0:
            return now_holds
        if expression.columns & _CONTAINER_COLUMNS:
            rows = rows[self._of_pods(rows, now_holds)]
            positions = self._index.positions(*self._keys(rows))
            matched = positions >= 0
            rows, positions = rows[matched], positions[matched]
            holds = expression.holds(_Rows(self, rows, positions))
            rows, positions = rows[holds], positions[holds]
        else:
            rows = rows[expression.holds(_Rows(self, rows))]
            positions = self._index.positions(*self._keys(rows))
            rows, positions = rows[positions >= 0], positions[positions >= 0]
        counts = self._count_steps(rows, positions, len(now_holds))
        result: Mask = now_holds & (counts == needed)
        return result

    def _keys(self, rows: Positions) -> tuple[Objects, Objects, Objects]:
        namespace, pod, container = (
            np.asarray(self._columns[name][rows], dtype=object) for name in KEY_COLUMNS
        )
        return namespace, pod, container

    def _of_pods(self, rows: Positions, containers: Mask) -> Mask:
        """Which ``rows`` belong to a pod of one of the given containers (a cheap pre-filter)."""
        pods = pd.unique(self.containers.column("pod")[containers])
        # copy=False: copying the object array of a million rows costs as much as the lookup;
        # isin hashes against the few pods, about half the time of get_indexer here.
        names = pd.Index(self._columns["pod"][rows], dtype=object, copy=False)
        found: Mask = names.isin(pods)
        return found

    def _count_steps(self, rows: Positions, positions: Positions, n: int) -> npt.NDArray[np.intp]:
        """Per container, at how many distinct steps it held (a duplicated row counts once)."""
        slots = self._slots[rows]
        width = int(slots.max()) + 1 if len(slots) else 1
        unique_slots = np.unique(positions.astype(np.int64) * width + slots)
        counts: npt.NDArray[np.intp] = np.bincount(unique_slots // width, minlength=n)
        return counts

    def _window(self, seconds: float) -> tuple[Positions, int] | None:
        """The history rows in the window and how many steps it has (None: no history)."""
        if self._interval <= 0:
            return None
        if seconds not in self._windows:
            needed = math.ceil(seconds / self._interval - EPSILON)
            if needed > self._oldest:
                self._windows[seconds] = None  # the history does not reach back far enough
            else:
                rows = (self._slots >= 1) & (self._slots <= needed)
                self._windows[seconds] = (np.flatnonzero(rows), needed)
        return self._windows[seconds]
