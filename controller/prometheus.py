"""The edge to Prometheus: per-container disk IO rates as the engine's frames.

One PromQL query per metric per cycle (four in all), never one per pod::

    sum by (namespace, pod, container) (
      max by (namespace, pod, container, device, id) (
        rate(container_fs_writes_total{device=~"DEVICE_REGEX",
                                       container!="", container!="POD"}[WINDOW])))
    or
    sum by (id, name) (max by (id, name, device) (
        rate(container_fs_writes_total{device=~"DEVICE_REGEX", namespace="", name!=""}[WINDOW])))

The inner ``max`` collapses the same series scraped twice (two jobs or instances differ only
in ``job``/``instance``), so nothing is double-counted; the outer ``sum`` adds up a
container's devices and a restarted container's old and new cgroup. The second half picks
up "standalone cAdvisor" series, which carry only the cgroup path (``id``) and ``name``: their
rows get the pod UID and container ID parsed from the path (systemd and cgroupfs forms) and
empty ``namespace``/``pod``/``container`` (filled in from a docker-style ``k8s_`` name when
there is one); :func:`resolve_standalone` maps them to pods. Which ``id`` is a container's
cgroup is decided here, not in PromQL: a regex on ``id`` made each query 40% slower at 10k
containers, while ``namespace="", name!=""`` is nearly free and lets through only the few
named cgroups outside pods.

The four queries run in parallel (Prometheus evaluates them on all its cores).

The frames are built from the JSON directly (prometheus-api-client is the transport only):
its ``MetricRangeDataFrame`` is slower and returns one row per sample per metric.
"""

import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import requests
from prometheus_api_client.exceptions import PrometheusApiClientException
from prometheus_api_client.prometheus_connect import PrometheusConnect
from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

from iops_limit.durations import format_duration

log = logging.getLogger(__name__)

KEY = ("namespace", "pod", "container")
RATE_COLUMNS = ("read_iops", "write_iops", "total_iops", "read_bps", "write_bps")
#: Frame column -> cAdvisor counter it is the rate of.
METRICS: dict[str, str] = {
    "read_iops": "container_fs_reads_total",
    "write_iops": "container_fs_writes_total",
    "read_bps": "container_fs_reads_bytes_total",
    "write_bps": "container_fs_writes_bytes_total",
}
CURRENT_COLUMNS = [*KEY, "node", "uid", "container_id", *RATE_COLUMNS]
HISTORY_COLUMNS = ["time", *CURRENT_COLUMNS]

#: A container's own cgroup under kubepods, in either driver's form; group 1 is the pod UID
#: (underscores under systemd), group 2 the container ID.
_CONTAINER_CGROUP = re.compile(
    r".*/kubepods[^/]*(?:/[^/]*)*?"
    r"/(?:kubepods-(?:burstable-|besteffort-)?)?pod([0-9a-fA-F]{8}[-_][0-9a-fA-F]{4}[-_]"
    r"[0-9a-fA-F]{4}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{12})(?:\.slice)?"
    r"/(?:(?:cri-containerd|crio|docker)-)?([0-9a-f]{64})(?:\.scope)?"
)
#: Docker's container names under kubelet: k8s_<container>_<pod>_<namespace>_<uid>_<attempt>.
_DOCKER_NAME = re.compile(r"k8s_([^_]+)_([^_]+)_([^_]+)_([0-9a-f-]{36})_\d+")
_USERINFO = re.compile(r"//[^/@\s]+@")


class PrometheusError(Exception):
    """A query failed: unreachable, timed out, HTTP error, or an answer we cannot read.

    The message names the query and never carries credentials.
    """

    def __init__(self, message: str, query: str = "") -> None:
        super().__init__(message)
        self.query = query


@dataclass(frozen=True)
class Transport:
    """How to reach Prometheus (or Thanos, Mimir, VictoriaMetrics: same API)."""

    url: str
    token_file: Path | None = None
    ca_file: Path | None = None
    skip_verify: bool = False
    headers: tuple[tuple[str, str], ...] = ()
    timeout: float = 30.0
    retries: int = 2
    backoff: float = 0.5


class PrometheusSource:
    """Per-container IO rates from Prometheus as the engine's ``current`` and ``history`` frames.

    The bearer token is read from ``token_file`` on every call, so a rotated token is picked
    up without a restart. Connection errors, timeouts and 429/5xx answers are retried
    ``retries`` times with exponential backoff before :class:`PrometheusError` is raised.
    """

    def __init__(
        self,
        url: str,
        *,
        token_file: str | Path | None = None,
        ca_file: str | Path | None = None,
        skip_verify: bool = False,
        headers: Iterable[tuple[str, str]] | Mapping[str, str] = (),
        rate_window: float = 120.0,
        device_regex: str = "/dev/nvme.+|nvme.+",
        timeout: float = 30.0,
        retries: int = 2,
        backoff: float = 0.5,
    ) -> None:
        try:
            re.compile(device_regex)
        except re.error as error:
            raise ValueError(f"device regex {device_regex!r}: {error}") from None
        pairs = tuple(headers.items()) if isinstance(headers, Mapping) else tuple(headers)
        self.transport = Transport(
            url=url.rstrip("/"),
            token_file=Path(token_file) if token_file else None,
            ca_file=Path(ca_file) if ca_file else None,
            skip_verify=skip_verify,
            headers=pairs,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
        )
        self.queries = rate_queries(rate_window, device_regex)
        self._client = _client(self.transport)
        if skip_verify:
            log.warning("Prometheus' TLS certificate is not verified (skip-verify is on)")

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "PrometheusSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def current(self, now: float) -> pd.DataFrame:
        """One row per container: its rates over the window ending at ``now``."""
        params = {"time": f"{now:.3f}", "timeout": f"{self.transport.timeout:g}s"}
        return build_current(self._query_all(lambda q: self._client.custom_query(q, params=params)))

    def history(self, window_seconds: float, step_seconds: float, now: float) -> pd.DataFrame:
        """The long history frame: one row per container per step, steps ending at ``now``.

        A range query over ``window_seconds`` (whole steps back from ``now``, so the last row
        is ``now`` itself). At 100k containers a 5m/30s history is ~45 MB of JSON and several
        seconds: call it to seed memory after a restart, not every cycle.
        """
        if step_seconds <= 0 or window_seconds < 0:
            raise ValueError("history needs step_seconds > 0 and window_seconds >= 0")
        start = now - (window_seconds // step_seconds) * step_seconds
        bounds = {
            "start": f"{start:.3f}",
            "end": f"{now:.3f}",
            "step": f"{step_seconds:g}",
            "timeout": f"{self.transport.timeout:g}s",
        }

        def run(query: str) -> Any:
            # The client rounds start/end to whole seconds; ours override them (params win).
            moment = datetime.fromtimestamp(now, UTC)
            return self._client.custom_query_range(
                query, moment, moment, step=bounds["step"], params=bounds
            )

        return build_history(self._query_all(run))

    def _headers(self) -> dict[str, str]:
        headers = dict(self.transport.headers)
        token_file = self.transport.token_file
        if token_file is not None:
            try:
                token = token_file.read_text().strip()
            except OSError as error:
                raise PrometheusError(
                    f"cannot read the Prometheus token file {token_file}: {error.strerror}"
                ) from None
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def _query_all(self, run: Callable[[str], Any]) -> dict[str, list[dict[str, Any]]]:
        """Run each metric's query, in parallel; the first failure (in column order) raises."""
        # Read per cycle, so a rotated token is used from the next cycle on.
        self._client.headers = self._headers()
        with ThreadPoolExecutor(len(METRICS), thread_name_prefix="prometheus-query") as pool:
            futures = {column: pool.submit(self._query, column, run) for column in METRICS}
            return {column: future.result() for column, future in futures.items()}

    def _query(self, column: str, run: Callable[[str], Any]) -> list[dict[str, Any]]:
        query = self.queries[column]
        try:
            result = run(query)
        except PrometheusApiClientException as error:
            raise PrometheusError(_failure(column, query, _clip(str(error))), query) from None
        except requests.JSONDecodeError as error:
            reason = f"unreadable answer (not JSON: {_clip(str(error))})"
            raise PrometheusError(_failure(column, query, reason), query) from None
        except requests.RequestException as error:
            reason = _clip(_transport_reason(error))
            raise PrometheusError(_failure(column, query, reason), query) from None
        except (ValueError, KeyError, TypeError) as error:
            reason = f"unreadable answer ({type(error).__name__}: {_clip(str(error))})"
            raise PrometheusError(_failure(column, query, reason), query) from None
        if not isinstance(result, list):
            raise PrometheusError(_failure(column, query, "answer is not a list of series"), query)
        return result


def rate_queries(rate_window: float, device_regex: str) -> dict[str, str]:
    """Frame column -> the PromQL that yields it (see the module docstring)."""
    window = format_duration(rate_window)
    device = _promql_string(device_regex)
    out = {}
    for column, metric in METRICS.items():
        kubelet = f'{metric}{{device=~{device},container!="",container!="POD"}}'
        standalone = f'{metric}{{device=~{device},namespace="",name!=""}}'
        out[column] = (
            "sum by (namespace, pod, container) "
            f"(max by (namespace, pod, container, device, id) (rate({kubelet}[{window}])))"
            " or sum by (id, name) "
            f"(max by (id, name, device) (rate({standalone}[{window}])))"
        )
    return out


def _promql_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _client(transport: Transport) -> PrometheusConnect:
    session = requests.Session()
    if transport.skip_verify:
        session.verify = False
    elif transport.ca_file is not None:
        session.verify = str(transport.ca_file)
    retry = Retry(
        total=transport.retries,
        backoff_factor=transport.backoff,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET", "POST"}),
        raise_on_status=True,
    )
    return PrometheusConnect(
        # The client's hint says int; whole seconds are precise enough for a query timeout.
        url=transport.url,
        session=session,
        retry=retry,
        timeout=math.ceil(transport.timeout),
    )


def _transport_reason(error: requests.RequestException) -> str:
    """The root cause without the request URL (the whole query, already in the message)."""
    cause = error.args[0] if error.args else None
    if isinstance(cause, MaxRetryError) and cause.reason is not None:
        return f"{type(error).__name__} after retries: {cause.reason}"
    return f"{type(error).__name__}: {error}"


def _failure(column: str, query: str, reason: str) -> str:
    return f"Prometheus query for {column} failed: {reason} (query: {query})"


def _clip(text: str, limit: int = 300) -> str:
    text = _USERINFO.sub("//***@", text)
    return text if len(text) <= limit else text[:limit] + "..."


def _series_key(metric: Mapping[str, str]) -> tuple[str, str, str, str, str]:
    """(namespace, pod, container, uid, container_id) of one answer series."""
    namespace = metric.get("namespace", "")
    if namespace:
        return (namespace, metric.get("pod", ""), metric.get("container", ""), "", "")
    match = _CONTAINER_CGROUP.fullmatch(metric.get("id", ""))
    if match is None:
        return ("", "", "", "", "")
    uid = match.group(1).replace("_", "-").lower()
    docker = _DOCKER_NAME.fullmatch(metric.get("name", ""))
    if docker is not None and docker.group(4) == uid:
        return (docker.group(3), docker.group(2), docker.group(1), uid, match.group(2))
    return ("", "", "", uid, match.group(2))


def build_current(per_metric: Mapping[str, list[dict[str, Any]]]) -> pd.DataFrame:
    """The current frame from the four instant-query answers (frame column -> result list)."""
    rows: dict[tuple[str, str, str, str, str], dict[str, float]] = {}
    for column, result in per_metric.items():
        for series in result:
            key = _series_key(series["metric"])
            if key == ("", "", "", "", ""):
                continue
            rows.setdefault(key, {})[column] = float(series["value"][1])
    keys = list(rows)
    frame = pd.DataFrame(
        {
            "namespace": [k[0] for k in keys],
            "pod": [k[1] for k in keys],
            "container": [k[2] for k in keys],
            "node": [""] * len(keys),
            "uid": [k[3] for k in keys],
            "container_id": [k[4] for k in keys],
            **{c: [rows[k].get(c, 0.0) for k in keys] for c in METRICS},
        },
        columns=[*CURRENT_COLUMNS],
    )
    return _typed(frame)


def build_history(per_metric: Mapping[str, list[dict[str, Any]]]) -> pd.DataFrame:
    """The long history frame from the four range-query answers."""
    index_columns = ["time", *KEY, "uid", "container_id"]
    parts = []
    for column, result in per_metric.items():
        columns: list[list[Any]] = [[] for _ in index_columns]
        values: list[float] = []
        for series in result:
            key = _series_key(series["metric"])
            if key == ("", "", "", "", ""):
                continue
            points = series["values"]
            columns[0].extend(float(t) for t, _ in points)
            for position, part in enumerate(key, start=1):
                columns[position].extend([part] * len(points))
            values.extend(float(v) for _, v in points)
        long = pd.DataFrame(dict(zip(index_columns, columns, strict=True)))
        long[column] = pd.Series(values, dtype=float)
        parts.append(long.set_index(index_columns)[column])
    wide = pd.concat(parts, axis=1).fillna(0.0).reset_index()
    wide["node"] = ""
    frame = _typed(wide.reindex(columns=HISTORY_COLUMNS))
    return frame.sort_values(["time", *KEY], kind="stable", ignore_index=True)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Key columns as str, rates as float (also when empty), ``total_iops`` filled in."""
    for column in ("namespace", "pod", "container", "node", "uid", "container_id"):
        frame[column] = frame[column].astype(str)
    for column in ("time", *METRICS):
        if column in frame.columns:
            frame[column] = frame[column].astype(float)
    frame["total_iops"] = frame["read_iops"] + frame["write_iops"]
    return frame


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
    mapped = [
        containers.get((uid, cid))
        for uid, cid in zip(
            frame.loc[standalone, "uid"], frame.loc[standalone, "container_id"], strict=True
        )
    ]
    fixed = frame.loc[standalone].copy()
    fixed["namespace"] = [m[0] if m else "" for m in mapped]
    fixed["pod"] = [m[1] if m else "" for m in mapped]
    fixed["container"] = [m[2] if m else "" for m in mapped]
    fixed = fixed[fixed["namespace"].ne("")]
    kubelet = frame.loc[~standalone]
    by = ["time", *KEY] if "time" in frame.columns else list(KEY)
    known = pd.MultiIndex.from_frame(kubelet[by])
    fixed = fixed[~pd.MultiIndex.from_frame(fixed[by]).isin(known)]
    return pd.concat([kubelet, fixed], ignore_index=True)
