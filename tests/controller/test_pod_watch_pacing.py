"""The pod cache's watch against a server that keeps ending it: retried, but never in a hot loop.

The fake API server is asked, watch by watch, to behave badly (end the watch at once with no
event, or answer 410 Gone), through the real client. The cache's waits are recorded instead of
slept, and the tests count waits and requests; a cache that re-opens at once never waits and
is stopped by the runaway guard.
"""

import threading
from collections.abc import Callable, Iterator
from typing import Any

from controller.kubeapi import KubeApi
from controller.pods import RETRY_SECONDS, PodCache
from controller.ratelimit import TokenBucket
from sandbox.fake_kube import FakeKube

RUNAWAY_WATCHES = 50  # far more than any paced test makes; the unpaced loop reaches it at once
HANG_GUARD_SECONDS = 60  # only ends a broken test; no assertion depends on time


class ScriptedWatches(KubeApi):
    """The real API wrapper; ``answer(n)`` arranges how the fake server answers watch ``n``
    (1-based) and returns the timeoutSeconds to ask for (0: the server ends it at once)."""

    def __init__(self, kube: FakeKube, answer: Callable[[int], int], runaway: Callable[[], None]):
        super().__init__(kube.api_client(), TokenBucket(1000, 1000))
        self.watches = 0
        self._answer = answer
        self._runaway = runaway

    def watch_pods(self, resource_version: str, timeout_seconds: int) -> Iterator[dict[str, Any]]:
        self.watches += 1
        if self.watches >= RUNAWAY_WATCHES:
            self._runaway()
        return super().watch_pods(resource_version, self._answer(self.watches))


class RecordedWaits:
    """Stands in for the cache's sleep: records each delay, stops the cache after ``count``."""

    def __init__(self, count: int) -> None:
        self.delays: list[float] = []
        self.done = threading.Event()
        self.cache: PodCache | None = None
        self._count = count

    def __call__(self, seconds: float) -> bool:
        self.delays.append(seconds)
        if len(self.delays) >= self._count:
            self.finish()
        return False

    def finish(self) -> None:
        assert self.cache is not None
        self.cache.stop()
        self.done.set()


def run_until_done(
    kube: FakeKube, answer: Callable[[int], int], waits: RecordedWaits
) -> tuple[PodCache, ScriptedWatches]:
    api = ScriptedWatches(kube, answer, waits.finish)
    cache = PodCache(api, wait=waits)
    waits.cache = cache
    cache.start()
    assert waits.done.wait(HANG_GUARD_SECONDS), "the watch loop neither waited nor ran away"
    return cache, api


def watch_requests(kube: FakeKube) -> int:
    return sum(1 for r in kube.requests if r.query.get("watch") == "true")


def test_watches_the_server_ends_at_once_are_reopened_with_growing_capped_waits(
    kube_api: FakeKube,
) -> None:
    waits = RecordedWaits(count=7)
    cache, api = run_until_done(kube_api, lambda _n: 0, waits)
    assert waits.delays == [0.5, 1.0, 2.0, 5.0, 10.0, 10.0, 10.0]
    assert waits.delays[-1] == RETRY_SECONDS[-1]
    assert api.watches == watch_requests(kube_api) == len(waits.delays)
    assert cache.relists == 0


def test_a_410_after_every_relist_relists_once_at_once_then_with_growing_waits(
    kube_api: FakeKube,
) -> None:
    def gone(_n: int) -> int:
        kube_api.fail_next("GET", r"^/api/v1/pods$", 410)  # taken by this watch request
        return 300

    waits = RecordedWaits(count=5)
    cache, api = run_until_done(kube_api, gone, waits)
    assert waits.delays == [0.5, 1.0, 2.0, 5.0, 10.0]
    # The first 410 relisted without waiting; every later one waited first.
    assert api.watches == len(waits.delays) + 1
    assert cache.relists == api.watches


def test_a_watch_that_delivered_a_change_resets_the_wait(kube_api: FakeKube) -> None:
    def answer(n: int) -> int:
        if n == 4:  # a change is waiting: this watch delivers it, then times out
            kube_api.add_pod(kube_api.make_pod("shop", "web-0", "node-a"))
            return 1
        return 0

    waits = RecordedWaits(count=4)
    cache, _api = run_until_done(kube_api, answer, waits)
    assert waits.delays == [0.5, 1.0, 2.0, 0.5]
    assert cache.get("shop", "web-0") is not None
