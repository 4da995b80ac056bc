"""One evaluation cycle: rates + pods + rules -> decisions -> patches, Events and metrics.

Fail static: when Prometheus cannot be queried the cycle stops before deciding (nothing is
released, nothing written) and readiness goes false; a limited container Prometheus has no data
for keeps its limit. Limits set by a person are never touched. Each cycle hands its result to an
optional ``on_cycle`` hook (the alert sender plugs in there).
"""

import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from controller.annotator import Annotator, PodChange, plan
from controller.history import History
from controller.metrics import AppliedLimit, ControllerMetrics
from controller.ownership import DIRECTIONS, Owner, PodLimits, classify
from controller.pods import Key, PodCache, PodInfo, standalone_index
from controller.prometheus import resolve_standalone
from controller.releases import GaugeSource, RecentReleases, read_releases
from controller.relevance import relevant_containers
from iops_limit.kube import KubeError

log = logging.getLogger(__name__)

KEY = ["namespace", "pod", "container"]
LIMIT_COLUMNS = ["limit_" + d for d in DIRECTIONS]
APPLIED_COLUMNS = [*KEY, *LIMIT_COLUMNS, "group", "rule", "since", "changed"]
# Rows of Prometheus history read per range query when seeding memory.
SEED_ROWS_PER_PART = 50_000


class RateSource(Protocol):
    """What the cycle needs from Prometheus (controller.prometheus.PrometheusSource)."""

    def current(self, now: float) -> pd.DataFrame: ...

    def history(self, window_seconds: float, step_seconds: float, now: float) -> pd.DataFrame: ...


class RuleSetLike(Protocol):
    def max_for(self) -> float: ...


class Evaluate(Protocol):
    """controller.engine.evaluate."""

    def __call__(  # noqa: PLR0917 -- the engine's positional contract
        self,
        rules: Any,
        current: pd.DataFrame,
        history: pd.DataFrame,
        applied: pd.DataFrame,
        now: float,
        options: Any,
        /,
        *,
        released: pd.DataFrame,
    ) -> pd.DataFrame: ...


@dataclass
class CycleResult:
    """What one cycle decided and did; the ``on_cycle`` hook receives it."""

    now: float
    decisions: pd.DataFrame
    changes: list[PodChange]
    applied: list[AppliedLimit]  # limits in force after the cycle (from the annotations)
    patched: int = 0
    dry_run: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CycleConfig:
    interval: float
    dry_run: bool
    allow_exempt_namespaces: tuple[str, ...]
    prometheus_errors: tuple[type[Exception], ...]


class Cycle:
    def __init__(
        self,
        *,
        config: CycleConfig,
        source: RateSource,
        pods: PodCache,
        annotator: Annotator | None,
        rules: Callable[[], Any],
        evaluate: Evaluate,
        options: Any,
        metrics: ControllerMetrics,
        may_act: Callable[[], bool] = lambda: True,
        on_cycle: Callable[[CycleResult], None] | None = None,
        clock: Callable[[], float] = time.time,
        gauge: GaugeSource | None = None,
    ) -> None:
        self._config = config
        self._source = source
        self._pods = pods
        self._annotator = annotator
        self._rules = rules
        self._evaluate = evaluate
        self._options = options
        self._metrics = metrics
        self._may_act = may_act
        self._on_cycle = on_cycle
        self._clock = clock
        self._history = History()
        self._releases = RecentReleases(float(options.min_hold))
        self._gauge = gauge
        self._recall_pending = True  # memory of releases starts empty
        self.prometheus_error: str | None = None

    def ready(self) -> tuple[bool, str]:
        if not self._pods.synced:
            return False, "pod cache not synced yet"
        if self._pods.watch_error is not None:
            return False, f"pod watch down: {self._pods.watch_error}"
        if self.prometheus_error is not None:
            return False, f"Prometheus failing: {self.prometheus_error}"
        return True, "ok"

    def run_guarded(self) -> CycleResult | None:
        """The scheduler's job: a cycle that fails is logged and counted, never fatal."""
        started = time.monotonic()
        try:
            return self.run()
        except KubeError as error:
            log.error("cycle failed on the Kubernetes API: %s", error)
            self._metrics.cycles.labels(result="kube_error").inc()
            self._history.gap()
            return None
        except Exception:
            log.exception("cycle failed")
            self._metrics.cycles.labels(result="error").inc()
            self._history.gap()
            return None
        finally:
            self._metrics.cycle_seconds.observe(time.monotonic() - started)

    def run(self) -> CycleResult | None:
        if not self._may_act():
            self._metrics.cycles.labels(result="not_leader").inc()
            self._history.gap()  # a new leader seeds from Prometheus, as after a restart
            self._recall_pending = True  # and recalls the releases the leader made meanwhile
            # A follower's last export would go on looking in force in Prometheus and hide the
            # leader's releases of those limits from the next one to recall them.
            self._metrics.set_applied(())
            return None
        rules = self._rules()
        now = self._clock()
        window = float(rules.max_for())
        current = self._query(window, now)
        if current is None:
            return None
        snapshot = self._pods.snapshot()
        owners = {
            pod.key: classify(pod, self._config.allow_exempt_namespaces)
            for pod in self._pods.annotated()
        }
        current = enrich(current, snapshot, owners)
        applied = applied_frame(owners, snapshot)
        if self._recall_pending and self._gauge is not None:
            # Memory of releases starts empty after a start or on becoming leader.
            self._recall_pending = False
            limited = zip(applied["namespace"], applied["pod"], applied["container"], strict=True)
            self._releases.recall(
                read_releases(
                    self._gauge,
                    self._config.prometheus_errors,
                    float(self._options.min_hold),
                    now,
                    set(limited),
                )
            )
        history = self._history.frame(
            now - window - self._config.interval / 2,
            relevant=relevant_containers(rules, current, applied),
            present=set(
                zip(current["namespace"], current["pod"], current["container"], strict=True)
            ),
        )
        decisions = self._evaluate(
            rules, current, history, applied, now, self._options, released=self._releases.frame(now)
        )
        decisions = hold_steady(decisions, current, owners)
        changes = plan(decisions, owners, snapshot, now)
        self._metrics.tampered.inc(sum(change.tampered for change in changes))
        result = CycleResult(now, decisions, changes, [], dry_run=self._config.dry_run)
        failed = 0
        if self._config.dry_run or self._annotator is None:
            for change in changes:
                log.info("dry run: would patch %s/%s: %s", *change.pod.key, change.patch)
        else:
            sent = self._annotator.send(changes)
            result.patched, failed = sent.patched, sent.failed
            # A release whose patch failed leaves the limit applied: the engine then never
            # sees the container as new, so remembering it anyway changes nothing.
            self._releases.record(decisions, now)
        for action, count in decisions["action"].value_counts().items():
            self._metrics.decisions.labels(action=str(action)).inc(int(count))
        result.applied = self._export_applied()
        # A cycle whose patches the API refused decided well but did not act: count it apart.
        self._metrics.cycles.labels(result="kube_error" if failed else "ok").inc()
        if self._on_cycle is not None:
            self._on_cycle(result)
        return result

    def _query(self, window: float, now: float) -> pd.DataFrame | None:
        """This cycle's rates, with memory brought up to date; None when Prometheus fails."""
        interval = self._config.interval
        start = now - window
        try:
            current = self._standalone_resolved(self._source.current(now))
            missed = self._history.missed_steps(now, interval) if window > 0 else 0
            if window > 0 and (
                not self._history.covers(start, interval) or missed * interval >= window
            ):
                log.info("history: reading the last %.0fs from Prometheus", window)
                self._history.seed(self._seed_parts(window, now, len(current)), start, now)
            else:
                if missed:
                    # Skipped or coalesced runs left steps out of memory; without them every
                    # ``for`` window would restart. Read just those steps back.
                    log.info("history: %d missed step(s); reading them from Prometheus", missed)
                    gap_end = now - interval
                    parts = self._seed_parts((missed - 1) * interval, gap_end, len(current))
                    self._history.fill(parts, gap_end)
                self._history.add(current, now, interval)
        except self._config.prometheus_errors as error:
            self.prometheus_error = str(error)
            self._metrics.prometheus_errors.inc()
            self._metrics.cycles.labels(result="prometheus_error").inc()
            self._history.gap()
            log.error("Prometheus query failed, changing nothing this cycle: %s", error)
            return None
        self.prometheus_error = None
        return current

    def _seed_parts(self, window: float, now: float, containers: int) -> Iterator[pd.DataFrame]:
        """Prometheus' history for ``window`` up to ``now`` in parts of a few steps each: one
        range query over 100k containers and 20 steps is gigabytes once parsed."""
        step = self._config.interval
        last = int(window // step)  # steps 0..last end at now
        per_part = max(1, SEED_ROWS_PER_PART // max(1, containers))
        end = last
        while end >= 0:
            first = max(0, end - per_part + 1)
            part_now = now - (last - end) * step
            frame = self._source.history((end - first) * step, step, part_now)
            yield self._standalone_resolved(frame)
            end = first - 1

    def _standalone_resolved(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Map series that only carry a cgroup path (standalone cAdvisor) to their pods."""
        if "uid" not in frame.columns or not frame["namespace"].eq("").any():
            return frame
        return resolve_standalone(frame, standalone_index(self._pods.snapshot().values()))

    def _export_applied(self) -> list[AppliedLimit]:
        """The limits in force now, from the annotations (after this cycle's patches)."""
        applied: list[AppliedLimit] = []
        limited = {Owner.CONTROLLER: 0, Owner.PERSON: 0}
        for pod in self._pods.annotated():
            limits = classify(pod, self._config.allow_exempt_namespaces)
            if limits.owner not in limited or not limits.held:
                continue
            limited[limits.owner] += 1
            for container, held in sorted(limits.held.items()):
                for direction, value in held.values().items():
                    if value is not None:
                        rule = f"{held.group}/{held.rule}" if held.group else ""
                        applied.append(
                            AppliedLimit(
                                pod.namespace,
                                pod.name,
                                container,
                                direction,
                                float(value),
                                limits.owner.value,
                                rule,
                                pod.node,
                            )
                        )
        for owner, count in limited.items():
            self._metrics.limited_pods.labels(owner=owner.value).set(count)
        self._metrics.set_applied(applied)
        return applied


def enrich(
    current: pd.DataFrame, pods: Mapping[Key, PodInfo], owners: Mapping[Key, PodLimits]
) -> pd.DataFrame:
    """Add ``labels`` and ``uid`` (and ``node`` where Prometheus had none) from the pod cache;
    drop containers of pods the API does not know, of exempt pods, and of pods whose own
    annotations are invalid (the controller keeps away from those)."""
    keys = list(zip(current["namespace"], current["pod"], strict=True))
    infos = [pods.get(key) for key in keys]
    # The few pods to stay away from, so the per-container test is one set lookup.
    blocked = {
        key
        for key, limits in owners.items()
        if limits.owner is Owner.EXEMPT or (limits.owner is Owner.PERSON and limits.problem)
    }
    keep = [info is not None and key not in blocked for key, info in zip(keys, infos, strict=True)]
    kept = [info for info, ok in zip(infos, keep, strict=True) if ok and info is not None]
    out = current[pd.Series(keep, index=current.index, dtype=bool)].copy()
    out["labels"] = pd.Series([info.labels for info in kept], index=out.index, dtype=object)
    out["uid"] = [info.uid for info in kept]
    if "node" not in out.columns:
        out["node"] = ""
    out["node"] = [node or info.node for node, info in zip(out["node"], kept, strict=True)]
    return out


_FREE = PodLimits(Owner.FREE)


def applied_frame(owners: Mapping[Key, PodLimits], pods: Mapping[Key, PodInfo]) -> pd.DataFrame:
    """The engine's applied frame: controller records and person-set limits (group/rule "")."""
    rows: list[dict[str, object]] = []
    for key, limits in owners.items():
        if limits.owner not in (Owner.CONTROLLER, Owner.PERSON) or key not in pods:
            continue
        for container, held in limits.held.items():
            row: dict[str, object] = {"namespace": key[0], "pod": key[1], "container": container}
            for direction, value in held.values().items():
                row["limit_" + direction] = math.nan if value is None else float(value)
            row.update(group=held.group, rule=held.rule, since=held.since, changed=held.changed)
            rows.append(row)
    frame = pd.DataFrame(rows, columns=APPLIED_COLUMNS)
    return frame.astype({**dict.fromkeys(LIMIT_COLUMNS, float), "since": float, "changed": float})


def hold_steady(
    decisions: pd.DataFrame, current: pd.DataFrame, owners: Mapping[Key, PodLimits]
) -> pd.DataFrame:
    """Overrule the engine where the controller must not act: no release of a container
    Prometheus has no data for (fail static), and no change at all on a person's pod."""
    active = decisions[decisions["action"] != "none"]
    person = {key for key, limits in owners.items() if limits.owner is Owner.PERSON}
    on_person_pod = [key in person for key in zip(active["namespace"], active["pod"], strict=True)]
    # Only releases and person-owned pods can be overruled: the steady cycle's thousands of
    # kept limits are not walked row by row.
    candidates = active[active["action"].eq("release").to_numpy() | np.array(on_person_pod, bool)]
    if candidates.empty:
        return decisions
    seen = set(zip(current["namespace"], current["pod"], current["container"], strict=True))
    out = decisions.copy()
    for index, row in candidates.iterrows():
        key = (str(row["namespace"]), str(row["pod"]))
        container = str(row["container"])
        limits = owners.get(key, _FREE)
        if limits.owner is Owner.PERSON:
            held = limits.held.get(container)
            out.loc[index, "action"] = "keep" if held is not None else "none"
            out.loc[index, "reason"] = "limits on this pod are set by a person; not touched"
        elif row["action"] == "release" and (*key, container) not in seen:
            held = limits.held.get(container)
            out.loc[index, "action"] = "keep"
            out.loc[index, "reason"] = "no data from Prometheus; holding the limit"
        else:
            continue
        for direction in DIRECTIONS:
            value = getattr(held.limits, direction) if held is not None else None
            out.loc[index, "limit_" + direction] = math.nan if value is None else float(value)
    return out
