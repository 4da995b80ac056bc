"""Prometheus answers (the parsed ``data.result`` lists) to the engine's rate frames.

Built from the JSON directly: prometheus-api-client's ``MetricRangeDataFrame`` takes seconds
at 100k containers and returns one row per sample per metric. Each series gets an integer
key id; each metric's values land in a dense array indexed by key id (and by time step for
history), so joining the four metrics is array indexing, not a pandas merge.

Keys: kubelet series carry ``namespace``, ``pod``, ``container``. Standalone cAdvisor series
carry only the cgroup path ``id``; their rows get the pod UID and container ID parsed from it
(systemd and cgroupfs forms) and empty names, until :func:`resolve_standalone` maps them.
"""

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

KEY = ("namespace", "pod", "container")
#: Frame column -> cAdvisor counter it is the rate of, in query order.
METRICS: dict[str, str] = {
    "read_iops": "container_fs_reads_total",
    "write_iops": "container_fs_writes_total",
    "read_bps": "container_fs_reads_bytes_total",
    "write_bps": "container_fs_writes_bytes_total",
}
RATE_COLUMNS = ("read_iops", "write_iops", "total_iops", "read_bps", "write_bps")
CURRENT_COLUMNS = [*KEY, "node", "uid", "container_id", *RATE_COLUMNS]
HISTORY_COLUMNS = ["time", *CURRENT_COLUMNS]

#: (namespace, pod, container, pod UID, container ID)
SeriesKey = tuple[str, str, str, str, str]
Answer = Sequence[Mapping[str, Any]]

#: A container's own cgroup under kubepods, in either driver's form; group 1 is the pod UID
#: (underscores under systemd), group 2 the container ID.
_CONTAINER_CGROUP = re.compile(
    r".*/kubepods[^/]*(?:/[^/]*)*?"
    r"/(?:kubepods-(?:burstable-|besteffort-)?)?pod([0-9a-fA-F]{8}[-_][0-9a-fA-F]{4}[-_]"
    r"[0-9a-fA-F]{4}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{12})(?:\.slice)?"
    r"/(?:(?:cri-containerd|crio|docker)-)?([0-9a-f]{64})(?:\.scope)?"
)


def series_key(metric: Mapping[str, str]) -> SeriesKey | None:
    """The key of one answer series; None for a cgroup that is not a pod's container."""
    namespace = metric.get("namespace", "")
    if namespace:
        return (namespace, metric.get("pod", ""), metric.get("container", ""), "", "")
    match = _CONTAINER_CGROUP.fullmatch(metric.get("id", ""))
    if match is None:
        return None
    return ("", "", "", match.group(1).replace("_", "-").lower(), match.group(2))


class _Keys:
    """Integer ids for series keys, in order of first appearance."""

    def __init__(self) -> None:
        self.ids: dict[SeriesKey, int] = {}

    def id_of(self, metric: Mapping[str, str]) -> int | None:
        key = series_key(metric)
        return None if key is None else self.ids.setdefault(key, len(self.ids))

    def columns(self, ids: np.ndarray) -> dict[str, Any]:
        """The key columns for rows of these key ids."""
        table = np.array(list(self.ids) or [("",) * 5], dtype=object).reshape(-1, 5)
        names = (*KEY, "uid", "container_id")
        return {name: table[ids, position] for position, name in enumerate(names)}


def build_current(per_metric: Mapping[str, Answer]) -> pd.DataFrame:
    """The current frame from the instant-query answers (frame column -> result list).

    A container missing from one metric's answer reads 0 there.
    """
    keys = _Keys()
    parsed: dict[str, tuple[list[int], list[str]]] = {}
    for column, answer in per_metric.items():
        ids, values = parsed.setdefault(column, ([], []))
        for series in answer:
            key_id = keys.id_of(series["metric"])
            if key_id is not None:
                ids.append(key_id)
                values.append(series["value"][1])
    count = len(keys.ids)
    rates = {}
    for column in METRICS:
        dense = np.zeros(count)
        ids, values = parsed.get(column, ([], []))
        np.add.at(dense, np.array(ids, dtype=np.int64), np.array(values, dtype=np.float64))
        rates[column] = dense
    return _frame({**keys.columns(np.arange(count)), **rates})


def build_history(per_metric: Mapping[str, Answer]) -> pd.DataFrame:
    """The long history frame from the range-query answers: one row per container per step
    at which any metric has a value, ordered by time."""
    keys = _Keys()
    parsed: dict[str, tuple[list[int], list[float], list[str]]] = {}
    for column, answer in per_metric.items():
        ids, times, values = parsed.setdefault(column, ([], [], []))
        for series in answer:
            key_id = keys.id_of(series["metric"])
            if key_id is None:
                continue
            point_times, point_values = zip(*series["values"], strict=True)
            ids.extend([key_id] * len(point_times))
            times.extend(point_times)
            values.extend(point_values)
    steps = np.unique(np.concatenate([np.array(p[1], dtype=np.float64) for p in parsed.values()]))
    count = len(keys.ids)
    present = np.zeros(len(steps) * count, dtype=bool)
    rates = {}
    for column in METRICS:
        dense = np.zeros(len(steps) * count)
        ids, times, values = parsed.get(column, ([], [], []))
        # Row code = step index * keys + key id: time-major order for free.
        codes = np.searchsorted(steps, np.array(times, dtype=np.float64)) * count + np.array(
            ids, dtype=np.int64
        )
        np.add.at(dense, codes, np.array(values, dtype=np.float64))
        present[codes] = True
        rates[column] = dense
    rows = np.flatnonzero(present)
    return _frame(
        {
            "time": steps[rows // count] if count else np.zeros(0),
            **keys.columns(rows % count if count else rows),
            **{column: dense[rows] for column, dense in rates.items()},
        },
        columns=HISTORY_COLUMNS,
    )


def _frame(data: Mapping[str, Any], columns: Sequence[str] = CURRENT_COLUMNS) -> pd.DataFrame:
    """Key columns as str, rates as float (also when empty), ``node`` empty, totals added."""
    frame = pd.DataFrame({name: data[name] for name in data if name in columns})
    for name in (*KEY, "uid", "container_id"):
        frame[name] = frame[name].astype(str)
    frame["node"] = pd.Series([""] * len(frame), dtype=str, index=frame.index)
    for name in METRICS:
        frame[name] = frame[name].astype(float)
    frame["total_iops"] = frame["read_iops"] + frame["write_iops"]
    return frame.reindex(columns=list(columns))


def resolve_standalone(
    frame: pd.DataFrame, containers: Mapping[tuple[str, str], tuple[str, str, str]]
) -> pd.DataFrame:
    """Give standalone-cAdvisor rows their pod: ``containers`` maps (pod UID, container ID)
    to (namespace, pod, container), e.g. from the pods' ``containerStatuses``.

    Rows that cannot be mapped (the pause container, pods the API does not know) are dropped,
    and so is a mapped row whose container Prometheus also reported with kubelet labels (both
    scraped: count it once).
    """
    standalone = frame["namespace"].eq("") & frame["uid"].ne("")
    if not standalone.any():
        return frame
    pairs = zip(frame.loc[standalone, "uid"], frame.loc[standalone, "container_id"], strict=True)
    mapped = [containers.get(pair, ("", "", "")) for pair in pairs]
    fixed = frame.loc[standalone].copy()
    for position, name in enumerate(KEY):
        fixed[name] = [names[position] for names in mapped]
    fixed = fixed[fixed["namespace"].ne("")]
    kubelet = frame.loc[~standalone]
    by = ["time", *KEY] if "time" in frame.columns else list(KEY)
    known = pd.MultiIndex.from_frame(kubelet[by])
    fixed = fixed[~pd.MultiIndex.from_frame(fixed[by]).isin(known)]
    return pd.concat([kubelet, fixed], ignore_index=True)
