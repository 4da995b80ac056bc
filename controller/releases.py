"""The releases this controller made recently, for the minimum hold after a release.

The engine is pure and the applied limits are rebuilt from the pods' annotations every cycle,
but a released limit leaves no annotation behind; so the cycle remembers when it released what
and hands that to the engine (``released=``). Memory only: a restarted controller (or a new
leader) does not know the releases made before it, and may limit such a container again
before the hold has passed (README, "Known limits").
"""

import pandas as pd

from controller.frames import KEY_COLUMNS, RELEASED_COLUMNS

Key = tuple[str, str, str]


class RecentReleases:
    def __init__(self, hold: float) -> None:
        self._hold = hold
        self._released: dict[Key, float] = {}

    def record(self, decisions: pd.DataFrame, now: float) -> None:
        """Remember the containers ``decisions`` released (patched) at ``now``."""
        rows = decisions[decisions["action"] == "release"]
        for key in zip(*(rows[column].astype(str) for column in KEY_COLUMNS), strict=True):
            self._released[key] = now

    def frame(self, now: float) -> pd.DataFrame:
        """The releases still inside the hold at ``now``; older ones are forgotten."""
        self._released = {
            key: when for key, when in self._released.items() if now - when < self._hold
        }
        rows = [(*key, when) for key, when in self._released.items()]
        return pd.DataFrame(rows, columns=list(RELEASED_COLUMNS)).astype({"released": float})
