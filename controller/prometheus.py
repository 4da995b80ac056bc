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
up "standalone cAdvisor" series, which carry only the cgroup path (``id``) and ``name``
(see :mod:`controller.rate_frames` for how their rows are keyed and mapped to pods). Which
``id`` is a container's cgroup is decided there, not in PromQL: a regex on ``id`` made each
query 40% slower at 10k containers, while ``namespace="", name!=""`` is nearly free and
lets through only the few named cgroups outside pods. (A cAdvisor without its container
runtime integration serves containers with an empty ``name``; those are not read, as
keeping them would need the costly ``id`` regex.)

The four queries run two at a time (Prometheus evaluates them on its cores meanwhile). Each
answer is read into one buffer, parsed with orjson as soon as it arrives and turned into
columns at once, one answer at a time (a lock) with the GC paused: at 100k containers an
answer parsed into Python dicts is ~70 MB, and holding four of them next to their raw bytes
made most of the controller's peak memory.
"""

import contextlib
import functools
import gc
import logging
import math
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pandas as pd
import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

from controller.rate_frames import (
    METRICS,
    Answer,
    Parsed,
    current_frame,
    history_frame,
    parse_instant,
    parse_range,
    resolve_standalone,
)
from iops_limit.durations import format_duration
from iops_limit.redact import mask_secrets

# resolve_standalone lives with the frames but belongs to this edge's public surface.
__all__ = ["PrometheusError", "PrometheusSource", "rate_queries", "resolve_standalone"]

log = logging.getLogger(__name__)

T = TypeVar("T")


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
        self._session = _session(self.transport)
        if skip_verify:
            log.warning("Prometheus' TLS certificate is not verified (skip-verify is on)")

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> "PrometheusSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def current(self, now: float) -> pd.DataFrame:
        """One row per container: its rates over the window ending at ``now``."""
        params = {"time": f"{now:.3f}", "timeout": f"{self.transport.timeout:g}s"}
        # Two at a time: answers are parsed one at a time anyway, and four downloaded at once
        # held ~40 MB of bytes waiting for the parser at 100k containers.
        answers = self._query_all("query", params, parse_instant, workers=CURRENT_WORKERS)
        return current_frame(answers)

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
        # One query at a time: a restart-only call, where four range answers downloaded at
        # once next to the memory being seeded made the controller's peak memory.
        return history_frame(self._query_all("query_range", bounds, parse_range, workers=1))

    def range_query(
        self, query: str, start: float, end: float, step: float
    ) -> list[dict[str, Any]]:
        """Any range query's ``result`` (matrix), e.g. of the controller's own gauge.

        Through the same transport (URL, token, TLS, headers, retries) as the rate queries.
        """
        params = {"start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        params["timeout"] = f"{self.transport.timeout:g}s"
        return self._get(
            query, query, "query_range", params, headers=self._headers(), parse=_matrix
        )

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

    def _query_all(
        self,
        endpoint: str,
        params: Mapping[str, str],
        parse: Callable[[Answer], Parsed],
        workers: int = len(METRICS),
    ) -> dict[str, Parsed]:
        """Run each metric's query, ``workers`` at a time; the first failure (in column order)
        raises."""
        # Read per cycle, so a rotated token is used from the next cycle on.
        get = functools.partial(self._get, headers=self._headers(), parse=parse)
        with ThreadPoolExecutor(workers, thread_name_prefix="prometheus-query") as pool:
            futures = {
                column: pool.submit(get, column, self.queries[column], endpoint, {**params})
                for column in METRICS
            }
            return {column: future.result() for column, future in futures.items()}

    def _get(
        self,
        what: str,
        query: str,
        endpoint: str,
        params: dict[str, str],
        *,
        headers: dict[str, str],
        parse: Callable[[Answer], T],
    ) -> T:
        """One query's ``result``, parsed; failures name ``what`` (a column, or the query)."""

        def clip(text: str) -> str:
            return _clip(text, headers.values())

        try:
            response = self._session.get(
                f"{self.transport.url}/api/v1/{endpoint}",
                params={"query": query, **params},
                headers=headers,
                # Given per request: requests lets REQUESTS_CA_BUNDLE override a session's own.
                verify=self._session.verify,
                # Whole seconds are precise enough for a query timeout.
                timeout=math.ceil(self.transport.timeout),
                stream=True,  # read by _body
            )
            with response:
                if response.status_code != 200:
                    reason = f"HTTP Status Code {response.status_code} ({response.content!r})"
                    raise PrometheusError(_failure(what, query, clip(reason)), query)
                content = _body(response)
            del response
            with _parsing():
                result = orjson.loads(content)["data"]["result"]
                del content
                if not isinstance(result, list):
                    reason = "answer is not a list of series"
                    raise PrometheusError(_failure(what, query, reason), query)
                return parse(result)
        except orjson.JSONDecodeError as error:
            reason = f"unreadable answer (not JSON: {clip(str(error))})"
            raise PrometheusError(_failure(what, query, reason), query) from None
        except requests.RequestException as error:
            reason = clip(_transport_reason(error))
            raise PrometheusError(_failure(what, query, reason), query) from None
        except (ValueError, KeyError, TypeError, IndexError) as error:
            reason = f"unreadable answer ({type(error).__name__}: {clip(str(error))})"
            raise PrometheusError(_failure(what, query, reason), query) from None


#: Instant queries sent at once by ``current()``.
CURRENT_WORKERS = 2
#: How much of an answer is read at a time.
_READ_SIZE = 1 << 20


def _body(response: requests.Response) -> bytearray:
    """The answer's bytes in one growing buffer: ``response.content`` joins a list of 10 KB
    chunks, so each of the four ~10 MB answers at 100k containers was held twice at once."""
    body = bytearray()
    for chunk in response.iter_content(_READ_SIZE):
        body += chunk
    return body


_PARSE_LOCK = threading.Lock()


@contextlib.contextmanager
def _parsing() -> Iterator[None]:
    """One answer parsed at a time in the process, with the cyclic GC paused: parsing 100k
    series allocates ~400k dicts and lists, which set off full collections over the pod
    cache's objects (0.25 s per 10 MB answer measured); JSON makes no reference cycles, so
    nothing is left for the GC to find."""
    with _PARSE_LOCK:
        paused = gc.isenabled()
        gc.disable()
        try:
            yield
        finally:
            if paused:
                gc.enable()


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


def _session(transport: Transport) -> requests.Session:
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
    session.mount(transport.url, HTTPAdapter(max_retries=retry))
    return session


def _transport_reason(error: requests.RequestException) -> str:
    """The root cause without the request URL (the whole query, already in the message)."""
    cause = error.args[0] if error.args else None
    if isinstance(cause, MaxRetryError) and cause.reason is not None:
        return f"{type(error).__name__} after retries: {cause.reason}"
    return f"{type(error).__name__}: {error}"


def _failure(what: str, query: str, reason: str) -> str:
    if what == query:
        return f"Prometheus query failed: {reason} (query: {query})"
    return f"Prometheus query for {what} failed: {reason} (query: {query})"


def _matrix(answer: Answer) -> list[dict[str, Any]]:
    return [series for series in answer if isinstance(series, dict)]


def _clip(text: str, headers: Iterable[str], limit: int = 300) -> str:
    """An error text fit for a log: short, and without the credentials we send (an answer
    body or a proxy's error page may echo the request's URL or headers back)."""
    secrets = list(headers)
    secrets += [value.split(" ", 1)[1] for value in secrets if " " in value]
    text = mask_secrets(text, secrets)
    return text if len(text) <= limit else text[:limit] + "..."
