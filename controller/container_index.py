"""Find rows of other frames (history, applied) among the current frame's containers.

Each key column is factorised once; a container is then one int64 code, so looking up a
million history rows is hashing their strings once per column plus an integer lookup.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from controller.frames import KEY_COLUMNS

Positions = npt.NDArray[np.intp]
Objects = npt.NDArray[np.object_]
Mask = npt.NDArray[np.bool_]


class EngineInputError(ValueError):
    """A frame that breaks the frame contract (missing column, bad or duplicate key)."""


def key_arrays(
    frame: pd.DataFrame, name: str, check: bool = True
) -> tuple[Objects, Objects, Objects]:
    """The key columns of ``frame`` as object arrays; ``check`` that none is missing.

    History rows are not checked (a scan of a million strings): a row with a missing key
    matches no container and so counts as that container's absence.
    """
    arrays = []
    for column in KEY_COLUMNS:
        if column not in frame.columns:
            raise EngineInputError(f"{name} frame has no {column!r} column")
        values = frame[column].to_numpy(dtype=object)
        if check and len(values) and pd.isna(values).any():
            row = int(np.flatnonzero(pd.isna(values))[0])
            raise EngineInputError(f"{name} frame: missing {column} at row {row}")
        arrays.append(values)
    return arrays[0], arrays[1], arrays[2]


@dataclass(frozen=True)
class Level:
    """One key column factorised: ``uniques[codes]`` gives the column back."""

    codes: npt.NDArray[np.int64]
    uniques: Objects

    def where(self, unique_matches: Mask) -> Mask:
        """Spread a per-unique-value mask to the rows."""
        result: Mask = unique_matches[self.codes]
        return result


@dataclass(frozen=True)
class PodLabels:
    """The labels of each distinct pod (a selector is matched once per pod, not per row)."""

    labels: Objects
    pod_of_row: npt.NDArray[np.intp]

    def spread(self, per_pod: Mask) -> Mask:
        result: Mask = per_pod[self.pod_of_row]
        return result


class ContainerIndex:
    """The containers of the current frame, in its row order; keys must be unique."""

    def __init__(
        self, namespace: Objects, pod: Objects, container: Objects, frame: str = "current"
    ) -> None:
        self._levels: list[pd.Index] = []
        codes = []
        self.columns: list[Level] = []
        for values in (namespace, pod, container):
            level_codes, uniques = pd.factorize(values)
            if len(level_codes) and level_codes.min() < 0:
                row = int(np.flatnonzero(level_codes < 0)[0])
                raise EngineInputError(f"{frame} frame: missing key column at row {row}")
            self._levels.append(pd.Index(uniques, dtype=object))
            codes.append(level_codes.astype(np.int64))
            self.columns.append(Level(codes[-1], np.asarray(uniques, dtype=object)))
        self._pod_codes = codes[0] * len(self._levels[1]) + codes[1]
        combined = self._pod_codes * len(self._levels[2]) + codes[2]
        self._index = pd.Index(combined)
        if not self._index.is_unique:
            first = int(np.flatnonzero(self._index.duplicated())[0])
            raise EngineInputError(
                f"{frame} frame: container {namespace[first]}/{pod[first]}/{container[first]} "
                "appears more than once"
            )

    def pod_labels(self, labels: Objects) -> PodLabels:
        """``labels`` (one per row) reduced to one per pod, taking each pod's first row."""
        pod_of_row, uniques = pd.factorize(self._pod_codes)
        first = np.zeros(len(uniques), dtype=np.intp)
        first[pod_of_row[::-1]] = np.arange(len(pod_of_row))[::-1]
        return PodLabels(labels[first], pod_of_row)

    @property
    def pod_codes(self) -> npt.NDArray[np.int64]:
        """One integer per row, equal for rows of the same pod."""
        return self._pod_codes

    def positions(self, namespace: Objects, pod: Objects, container: Objects) -> Positions:
        """Row in the current frame of each given container, or -1 where it is not there."""
        if not len(namespace) or not len(self._index):
            return np.full(len(namespace), -1, dtype=np.intp)
        codes = [
            level.get_indexer(pd.Index(values, dtype=object, copy=False)).astype(np.int64)
            for level, values in zip(self._levels, (namespace, pod, container), strict=True)
        ]
        missing = (codes[0] < 0) | (codes[1] < 0) | (codes[2] < 0)
        combined = (codes[0] * len(self._levels[1]) + codes[1]) * len(self._levels[2]) + codes[2]
        found: Positions = self._index.get_indexer(combined)
        found[missing] = -1
        return found
