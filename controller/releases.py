"""The releases this controller made recently, for the minimum hold after a release.

The engine is pure and the applied limits are rebuilt from the pods' annotations every cycle,
but a released limit leaves no annotation behind; so the cycle remembers when it released what
and hands that to the engine (``released=``). A restarted controller (or a new leader) starts
with no memory: it recalls the releases within the hold from the controller's own gauge
``iops_limit_applied`` in Prometheus (:func:`recalled_releases`), which needs Prometheus to
scrape the controller's ``/metrics``.
"""

import logging
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Protocol

import pandas as pd

from controller.frames import KEY_COLUMNS, RELEASED_COLUMNS
from controller.report_history import GAUGE_QUERY, history_step, past_limits

log = logging.getLogger(__name__)

Key = tuple[str, str, str]


class GaugeSource(Protocol):
    """Range queries of the controller's own gauge (controller.prometheus.PrometheusSource)."""

    def range_query(
        self, query: str, start: float, end: float, step: float
    ) -> list[dict[str, Any]]: ...


class RecentReleases:
    def __init__(self, hold: float) -> None:
        self._hold = hold
        self._released: dict[Key, float] = {}

    def record(self, decisions: pd.DataFrame, now: float) -> None:
        """Remember the containers ``decisions`` released (patched) at ``now``."""
        rows = decisions[decisions["action"] == "release"]
        for key in zip(*(rows[column].astype(str) for column in KEY_COLUMNS), strict=True):
            self._released[key] = now

    def recall(self, released: Mapping[Key, float]) -> None:
        """Add releases read back from Prometheus; a later one already in memory stays."""
        for key, when in released.items():
            self._released[key] = max(when, self._released.get(key, when))

    def frame(self, now: float) -> pd.DataFrame:
        """The releases still inside the hold at ``now``; older ones are forgotten."""
        self._released = {
            key: when for key, when in self._released.items() if now - when < self._hold
        }
        rows = [(*key, when) for key, when in self._released.items()]
        return pd.DataFrame(rows, columns=list(RELEASED_COLUMNS)).astype({"released": float})


def recalled_releases(
    series: Iterable[Mapping[str, Any]],
    step: float,
    now: float,
    hold: float,
    limited: Collection[Key],
) -> dict[Key, float]:
    """When each container the controller released within ``hold`` before ``now`` was
    released, from a range query of ``iops_limit_applied`` (``GAUGE_QUERY``) at ``step``.

    A container with a controller's limit in the gauge that is not ``limited`` now (per its
    annotations) lost that limit by a release. The gauge was still exported at its last point
    and gone at the next one, and the release patch comes before the export that drops it;
    so the release came before the last point plus a step: count from there (capped at
    ``now``), never earlier than the release, at worst a scrape interval and a step later.
    A person's limit (``rule=""``) going away is not a release. A pod deleted and created
    again under the same name within the hold looks like a release too, and is held as one.
    """
    last: dict[Key, float] = {}
    for record in past_limits(series, step):
        key = (record.namespace, record.pod, record.container)
        if not record.rule or key in limited or record.released is None:
            continue
        last[key] = max(record.released, last.get(key, record.released))
    released = {key: min(when + step, now) for key, when in last.items()}
    return {key: when for key, when in released.items() if now - when < hold}


def read_releases(
    gauge: GaugeSource,
    errors: tuple[type[Exception], ...],
    hold: float,
    now: float,
    limited: Collection[Key],
) -> dict[Key, float]:
    """The releases within ``hold`` before ``now``, read back from Prometheus (one range
    query of the gauge, whatever the number of pods). Without them the hold after those
    releases is lost, not the cycle: a failed query (one of ``errors``) or a gauge Prometheus
    does not have is logged, and nothing is recalled."""
    if hold <= 0:
        return {}
    step = history_step(hold)
    # From a step before the hold: a release inside it may have its last point before it.
    try:
        series = gauge.range_query(GAUGE_QUERY, now - hold - step, now, step)
    except errors as error:
        log.warning(
            "min hold: cannot read earlier releases from Prometheus (%s); a container "
            "released within %gs before this start may be limited again early",
            error,
            hold,
        )
        return {}
    if not series:
        # No limit in force anywhere over the hold leaves no series either; limits in force
        # now that the gauge never showed mean Prometheus does not scrape the controller.
        log.log(
            logging.WARNING if limited else logging.INFO,
            "min hold: Prometheus has no iops_limit_applied series over the last %gs (no "
            "limit in that time, the controller not running, or Prometheus not scraping its "
            "/metrics): no release to recall; if one was made, that container may be limited "
            "again before the hold has passed",
            hold,
        )
        return {}
    released = recalled_releases(series, step, now, hold, limited)
    log.info("min hold: recalled %d release(s) within %gs from Prometheus", len(released), hold)
    return released
