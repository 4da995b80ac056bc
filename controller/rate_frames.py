"""Prometheus answers (the parsed ``data.result`` lists) to the engine's rate frames.

Each answer is first reduced to columns (:class:`Parsed`: key strings and float arrays), so
its parsed JSON can be freed before the next is read. Each series then gets an integer key id;
each metric's values land in a dense array indexed by key id (and by time step for history),
so joining the four metrics is array indexing, not a pandas merge.

Keys: kubelet series carry ``namespace``, ``pod``, ``container``. Standalone cAdvisor series
carry only the cgroup path ``id``; their rows get the pod UID and container ID parsed from it
(systemd and cgroupfs forms) and empty names, until :func:`resolve_standalone` maps them.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from sys import intern
from typing import Any

import numpy as np
import numpy.typing as npt
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
Objects = npt.NDArray[np.object_]
Mask = npt.NDArray[np.bool_]

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


@dataclass(frozen=True)
class Parsed:
    """One metric's answer as columns, so the parsed JSON can be dropped at once: the series'
    keys (``SeriesKey`` order, one entry per series kept), each series' number of points, and
    the points themselves, flat."""

    keys: tuple[Objects, Objects, Objects, Objects, Objects]
    counts: npt.NDArray[np.int64]
    times: npt.NDArray[np.float64]
    values: npt.NDArray[np.float64]


_NO_KEYS = np.zeros(0, dtype=object)
_EMPTY = Parsed((_NO_KEYS,) * 5, np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0))


def parse_instant(answer: Answer) -> Parsed:
    """An instant query's ``data.result`` as columns (one point per series)."""
    keys, keep = _key_columns(answer)
    values = np.array([series["value"][1] for series in answer], dtype=np.float64)
    times = np.array([series["value"][0] for series in answer], dtype=np.float64)
    ones = np.ones(len(answer), dtype=np.int64)
    return Parsed(keys, ones[keep], times[keep], values[keep])


def parse_range(answer: Answer) -> Parsed:
    """A range query's ``data.result`` as columns (each series' points, flat, in order)."""
    keys, keep = _key_columns(answer)
    counts = np.array([len(series["values"]) for series in answer], dtype=np.int64)
    points = [point for series in answer for point in series["values"]]
    times = np.array([point[0] for point in points], dtype=np.float64)
    values = np.array([point[1] for point in points], dtype=np.float64)
    kept_points = np.repeat(keep, counts)
    return Parsed(keys, counts[keep], times[kept_points], values[kept_points])


def _key_columns(
    answer: Answer,
) -> tuple[tuple[Objects, Objects, Objects, Objects, Objects], Mask]:
    """The keys of the series that are containers, as five object arrays, and which series
    those are. A comprehension per column: a function call per series costs a second at 100k
    containers. The names are interned: the four answers (and the pod cache) then share one
    string per name instead of holding four copies each."""
    metrics = [series["metric"] for series in answer]
    columns = [[intern(metric.get(name, "")) for metric in metrics] for name in KEY]
    uids, container_ids = [""] * len(metrics), [""] * len(metrics)
    keep = np.ones(len(metrics), dtype=bool)
    for position in [at for at, namespace in enumerate(columns[0]) if not namespace]:
        key = series_key(metrics[position])  # standalone cAdvisor: only a few series
        if key is None:
            keep[position] = False
            continue
        for column, value in zip((*columns, uids, container_ids), key, strict=True):
            column[position] = value
    arrays = [np.array(column, dtype=object)[keep] for column in (*columns, uids, container_ids)]
    return (arrays[0], arrays[1], arrays[2], arrays[3], arrays[4]), keep


def _key_ids(parts: Sequence[Parsed]) -> tuple[npt.NDArray[np.int64], dict[str, Objects]]:
    """An integer id per series of all parts (in order of first appearance) and the key
    columns per id."""
    names = (*KEY, "uid", "container_id")
    columns = [np.concatenate([part.keys[position] for part in parts]) for position in range(5)]
    ids = np.zeros(len(columns[0]), dtype=np.int64)
    for column in columns:
        codes, uniques = pd.factorize(column)
        # Refactorised each time, so the combined code stays below rows * values.
        ids = pd.factorize(ids * len(uniques) + codes)[0].astype(np.int64)
    count = int(ids.max()) + 1 if len(ids) else 0
    first = np.zeros(count, dtype=np.int64)
    first[ids[::-1]] = np.arange(len(ids))[::-1]
    return ids, {name: column[first] for name, column in zip(names, columns, strict=True)}


def build_current(per_metric: Mapping[str, Answer]) -> pd.DataFrame:
    """The current frame from the instant-query answers (frame column -> result list)."""
    return current_frame({column: parse_instant(answer) for column, answer in per_metric.items()})


def build_history(per_metric: Mapping[str, Answer]) -> pd.DataFrame:
    """The long history frame from the range-query answers (frame column -> result list)."""
    return history_frame({column: parse_range(answer) for column, answer in per_metric.items()})


def current_frame(per_metric: Mapping[str, Parsed]) -> pd.DataFrame:
    """The current frame from parsed instant answers. A container missing from one metric's
    answer reads 0 there."""
    parts = [per_metric.get(column, _EMPTY) for column in METRICS]
    ids, keys = _key_ids(parts)
    count = len(next(iter(keys.values())))
    rates = {}
    offset = 0
    for column, part in zip(METRICS, parts, strict=True):
        dense = np.zeros(count)
        np.add.at(dense, ids[offset : offset + len(part.values)], part.values)
        offset += len(part.values)
        rates[column] = dense
    return _frame({**keys, **rates})


def history_frame(per_metric: Mapping[str, Parsed]) -> pd.DataFrame:
    """The long history frame from parsed range answers: one row per container per step at
    which any metric has a value, ordered by time."""
    parts = [per_metric.get(column, _EMPTY) for column in METRICS]
    ids, keys = _key_ids(parts)
    count = len(next(iter(keys.values())))
    steps = np.unique(np.concatenate([part.times for part in parts]))
    present = np.zeros(len(steps) * count, dtype=bool)
    rates = {}
    offset = 0
    for column, part in zip(METRICS, parts, strict=True):
        dense = np.zeros(len(steps) * count)
        point_ids = np.repeat(ids[offset : offset + len(part.counts)], part.counts)
        offset += len(part.counts)
        # Row code = step index * keys + key id: time-major order for free.
        codes = np.searchsorted(steps, part.times) * count + point_ids
        np.add.at(dense, codes, part.values)
        present[codes] = True
        rates[column] = dense
    rows = np.flatnonzero(present)
    return _frame(
        {
            "time": steps[rows // count] if count else np.zeros(0),
            **{name: column[rows % count if count else rows] for name, column in keys.items()},
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
