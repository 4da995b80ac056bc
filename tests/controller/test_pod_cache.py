"""The watch-backed pod cache against the fake API through the real client."""

import time
from collections.abc import Callable

from controller.kubeapi import KubeApi
from controller.pods import PodCache, PodInfo
from controller.ratelimit import TokenBucket
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
