"""The watch-backed pod cache against the fake API through the real client."""

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from controller.kubeapi import KubeApi
from controller.pods import PodCache, PodInfo, pod_info
from controller.prometheus import PrometheusSource
from controller.ratelimit import TokenBucket
from controller.settings import ControllerSettings
from controller.wiring import build_cycle
from sandbox.fake_kube import FakeKube


def wait_for(check: Callable[[], object], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def add(kube: FakeKube, name: str, annotations: dict[str, str] | None = None) -> None:
    kube.add_pod(kube.make_pod("shop", name, "node-a", annotations=annotations))


def test_lists_once_then_follows_changes_without_listing_again(kube_api: FakeKube) -> None:
    add(kube_api, "web-0")
    cache = PodCache(KubeApi(kube_api.api_client(), TokenBucket(100, 100)))
    cache.start()
    try:
        assert cache.get("shop", "web-0") is not None
        add(kube_api, "web-1", {"iops-limit/write-iops": "300"})
        wait_for(lambda: cache.get("shop", "web-1"), "the new pod")
        info = cache.get("shop", "web-1")
        assert info is not None and info.annotations == {"iops-limit/write-iops": "300"}
        assert [p.name for p in cache.annotated()] == ["web-1"]
        kube_api.delete_pod("shop", "web-0")
        wait_for(lambda: cache.get("shop", "web-0") is None, "the deletion")
        lists = [r for r in kube_api.requests if r.method == "GET" and "watch" not in r.query]
        assert len(lists) == 1
    finally:
        cache.stop()


def test_an_expired_resource_version_makes_it_list_again(kube_api: FakeKube) -> None:
    add(kube_api, "web-0")
    cache = PodCache(KubeApi(kube_api.api_client(), TokenBucket(100, 100)))
    cache.start()
    try:
        add(kube_api, "web-1")
        wait_for(lambda: cache.get("shop", "web-1"), "the new pod")
        kube_api.fail_next("GET", r"/api/v1/pods$", 410)  # the next watch: too old
        kube_api.drop_watches()
        wait_for(lambda: cache.relists >= 1, "a relist")
        add(kube_api, "web-2")
        wait_for(lambda: cache.get("shop", "web-2"), "a pod added after the relist")
    finally:
        cache.stop()


def test_only_the_fields_the_controller_uses_are_kept(kube_api: FakeKube) -> None:
    pod = kube_api.make_pod(
        "shop",
        "db-0",
        "node-b",
        labels={"tier": "database"},
        annotations={"iops-limit/limit": "100", "unrelated/key": "x" * 1000},
        containers=[{"name": "mysql", "image": "mysql:8"}, {"name": "backup", "image": "b:1"}],
    )
    kube_api.add_pod(pod)
    cache = PodCache(KubeApi(kube_api.api_client(), TokenBucket(100, 100)))
    cache.sync()
    info = cache.get("shop", "db-0")
    assert isinstance(info, PodInfo)
    assert info.labels == {"tier": "database"}
    assert info.annotations == {"iops-limit/limit": "100"}
    assert info.containers == ("mysql", "backup")
    assert info.node == "node-b"
    assert info.uid == pod["metadata"]["uid"]


def test_pods_with_the_same_labels_share_one_read_only_mapping() -> None:
    def pod(name: str, labels: dict[str, str]) -> dict[str, Any]:
        return {"metadata": {"namespace": "shop", "name": name, "labels": labels}}

    first, second = pod_info(pod("web-1", {"app": "web"})), pod_info(pod("web-2", {"app": "web"}))
    other = pod_info(pod("db-0", {"app": "db"}))
    assert first.labels is second.labels
    assert other.labels == {"app": "db"}
    with pytest.raises(TypeError):
        first.labels["app"] = "changed"  # type: ignore[index]


class BreakableApi(KubeApi):
    """The real API wrapper whose watch raises a non-API error while ``broken`` is set: a bug
    or a surprise from a library, not a failure the code anticipated."""

    def __init__(self, kube: FakeKube) -> None:
        super().__init__(kube.api_client(), TokenBucket(100, 100))
        self.broken = threading.Event()

    def watch_pods(self, resource_version: str, timeout_seconds: int) -> Iterator[dict[str, Any]]:
        if self.broken.is_set():
            raise RuntimeError("watch exploded")
        return super().watch_pods(resource_version, timeout_seconds)


def test_the_watch_survives_any_exception_and_readiness_is_false_while_it_is_down(
    kube_api: FakeKube,
) -> None:
    api = BreakableApi(kube_api)
    cache = PodCache(api)
    cycle = build_cycle(
        ControllerSettings(prometheus_url="http://127.0.0.1:9"),
        api=api,
        cache=cache,
        source=PrometheusSource("http://127.0.0.1:9"),
        rules=lambda: None,
    )
    cache.start()
    try:
        assert cycle.ready() == (True, "ok")
        add(kube_api, "web-0")
        wait_for(lambda: cache.get("shop", "web-0"), "the watch to be up")
        api.broken.set()
        kube_api.drop_watches()
        wait_for(lambda: "exploded" in (cache.watch_error or ""), "the watch to be down")
        ready, why = cycle.ready()
        assert not ready and "pod watch down: RuntimeError: watch exploded" in why
        api.broken.clear()
        wait_for(lambda: cache.watch_error is None, "the watch to be back")
        add(kube_api, "web-9")
        wait_for(lambda: cache.get("shop", "web-9"), "a pod added after the recovery")
        assert cycle.ready() == (True, "ok")
    finally:
        cache.stop()


def test_server_errors_on_the_watch_are_retried_until_it_is_back(kube_api: FakeKube) -> None:
    cache = PodCache(KubeApi(kube_api.api_client(), TokenBucket(100, 100)))
    cache.start()
    try:
        add(kube_api, "web-0")
        wait_for(lambda: cache.get("shop", "web-0"), "the watch to be up")
        kube_api.fail_next("GET", r"/api/v1/pods$", 500, times=2)
        kube_api.drop_watches()
        add(kube_api, "web-3")
        wait_for(lambda: cache.get("shop", "web-3"), "the pod, after the failed watches")
        watches = [r for r in kube_api.requests if r.query.get("watch") == "true"]
        assert [r.status for r in watches][-3:] == [500, 500, 200]
    finally:
        cache.stop()


def test_a_failing_change_listener_costs_that_change_only_not_the_watch(
    kube_api: FakeKube,
) -> None:
    seen: list[str] = []

    def listener(_before: PodInfo | None, after: PodInfo | None) -> None:
        if after is not None and after.name == "bad":
            raise ValueError("listener bug")
        if after is not None:
            seen.append(after.name)

    cache = PodCache(KubeApi(kube_api.api_client(), TokenBucket(100, 100)), listener)
    cache.start()
    try:
        add(kube_api, "bad")
        add(kube_api, "good")
        wait_for(lambda: seen == ["good"], "the change after the failing one")
        assert cache.watch_error is None
    finally:
        cache.stop()
