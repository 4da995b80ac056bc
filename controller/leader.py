"""Leader election through a coordination.k8s.io/v1 Lease, the way client-go does it.

Only the holder acts. A replica takes the Lease over only after it has seen the same record,
unrenewed, for a whole lease duration on its own clock (no trust in other machines' clocks).
The holder stops acting before that can happen: it counts as leader only until its last
successful renewal (timed from before the request) plus the lease duration minus a margin.
Updates carry the resourceVersion read, so two replicas racing for the Lease cannot both win.
"""

import datetime
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import kubernetes

from controller.kubeapi import KubeApi
from iops_limit.kube import Conflict, KubeError, NotFound

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Observed:
    holder: str
    renew_time: str
    resource_version: str


class LeaderElector:
    def __init__(
        self,
        api: KubeApi,
        *,
        namespace: str,
        name: str,
        identity: str,
        lease_duration: float,
        renew_period: float,
        on_change: Callable[[bool], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._api = api
        self._namespace = namespace
        self._name = name
        self.identity = identity
        self._duration = lease_duration
        self._renew_period = renew_period
        self._margin = max(renew_period, 0.2 * lease_duration)
        self._on_change = on_change
        self._clock = clock
        self._valid_until = 0.0
        self._observed: _Observed | None = None
        self._observed_at = 0.0
        self._was_leader = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def is_leader(self) -> bool:
        """Whether this replica may act now."""
        return self._clock() < self._valid_until

    def try_acquire_or_renew(self) -> bool:
        """One election round; returns whether this replica holds the Lease afterwards."""
        started = self._clock()
        try:
            won = self._round(started)
        except KubeError as error:
            log.warning("leader election: %s", error)
            won = False
        except Exception:
            # Whatever else went wrong (a malformed Lease, a bug), this round is lost, not the
            # election loop: leadership lapses on time and the next round tries again.
            log.exception("leader election: round failed")
            won = False
        if won:
            self._valid_until = started + self._duration - self._margin
        elif self._clock() >= self._valid_until:
            self._valid_until = 0.0
        self._report()
        return self.is_leader()

    def _round(self, started: float) -> bool:
        try:
            lease = self._api.read_lease(self._namespace, self._name)
        except NotFound:
            return self._create()
        spec = lease.spec or kubernetes.client.V1LeaseSpec()
        holder = spec.holder_identity or ""
        observed = _Observed(holder, str(spec.renew_time), str(lease.metadata.resource_version))
        if observed != self._observed:
            self._observed, self._observed_at = observed, started
        if holder and holder != self.identity:
            duration = float(spec.lease_duration_seconds or self._duration)
            if started - self._observed_at < duration:
                return False
            log.info("leader election: Lease held by %s expired; taking it over", holder)
        return self._write(lease, holder)

    def _create(self) -> bool:
        now = _now()
        body = kubernetes.client.V1Lease(
            metadata=kubernetes.client.V1ObjectMeta(name=self._name, namespace=self._namespace),
            spec=self._spec(acquire=now, renew=now, transitions=0),
        )
        try:
            self._api.create_lease(self._namespace, body)
        except Conflict:
            return False  # another replica created it first
        log.info("leader election: created Lease %s/%s", self._namespace, self._name)
        return True

    def _write(self, lease: Any, holder: str) -> bool:
        spec = lease.spec or kubernetes.client.V1LeaseSpec()
        now = _now()
        transitions = int(spec.lease_transitions or 0)
        if holder != self.identity:
            spec = self._spec(acquire=now, renew=now, transitions=transitions + 1)
        else:
            spec = self._spec(acquire=spec.acquire_time or now, renew=now, transitions=transitions)
        lease.spec = spec
        try:
            self._api.replace_lease(self._namespace, self._name, lease)
        except Conflict:
            return False  # someone wrote the Lease since we read it
        return True

    def _spec(self, acquire: datetime.datetime, renew: datetime.datetime, transitions: int) -> Any:
        return kubernetes.client.V1LeaseSpec(
            holder_identity=self.identity,
            lease_duration_seconds=max(1, round(self._duration)),
            acquire_time=acquire,
            renew_time=renew,
            lease_transitions=transitions,
        )

    def release(self) -> None:
        """Give the Lease up (on shutdown) so another replica need not wait for it to expire."""
        if not self.is_leader():
            return
        self._valid_until = 0.0
        self._report()
        try:
            lease = self._api.read_lease(self._namespace, self._name)
            if (lease.spec.holder_identity or "") != self.identity:
                return
            lease.spec.holder_identity = None
            lease.spec.lease_duration_seconds = 1
            lease.spec.renew_time = _now()
            self._api.replace_lease(self._namespace, self._name, lease)
            log.info("leader election: released Lease %s/%s", self._namespace, self._name)
        except KubeError as error:
            log.warning("leader election: could not release the Lease: %s", error)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="leader-election", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._renew_period + 10)
        self.release()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.try_acquire_or_renew()
            except Exception:
                log.exception("leader election: the leadership callback failed")
            self._stop.wait(self._renew_period)

    def _report(self) -> None:
        leader = self.is_leader()
        if leader != self._was_leader:
            self._was_leader = leader
            log.info("leader election: %s", "now the leader" if leader else "not the leader")
            if self._on_change is not None:
                self._on_change(leader)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
