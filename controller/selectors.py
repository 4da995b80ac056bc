"""Pod label selectors matched over a whole column of pods at once (the rule engine's side).

Parsing lives in :mod:`iops_limit.label_selectors`, shared with the node writer.
"""

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt
import pandas as pd

from iops_limit.label_selectors import LabelSelector


def select_rows(selector: LabelSelector, labels: npt.NDArray[np.object_]) -> npt.NDArray[np.bool_]:
    """One boolean per row; a row's labels are a mapping, or None for a pod without any."""
    result = np.ones(len(labels), dtype=np.bool_)
    for requirement in selector.requirements:
        key = requirement.key
        values = pd.Series(
            [row.get(key) if isinstance(row, dict) else _get(row, key) for row in labels],
            dtype=object,
        )
        present = values.notna().to_numpy(dtype=np.bool_)
        if requirement.operator == "exists":
            result &= present
        elif requirement.operator == "!exists":
            result &= ~present
        else:
            member = values.isin(list(requirement.values)).to_numpy(dtype=np.bool_)
            result &= member if requirement.operator == "in" else ~member
    return result


def _get(labels: object, key: str) -> object:
    """The slow path for label mappings that are not plain dicts (and for None)."""
    return labels.get(key) if isinstance(labels, Mapping) else None
