"""Watches on the fake Kubernetes API through the real client's ``kubernetes.watch.Watch``."""

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import urllib3
from kubernetes.client import ApiException, CoreV1Api
from kubernetes.watch import Watch

from sandbox.fake_kube import FakeKube

DEADLINE = 30.0  # seconds; generous, the machine is shared


def seen(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(type, pod name) of each event, read from the JSON the server sent."""
    return [(event["type"], event["raw_object"]["metadata"]["name"]) for event in events]


def take(stream: Iterator[dict[str, Any]], watch: Watch, count: int) -> list[dict[str, Any]]:
    """The first ``count`` events, then the watch is closed."""
    events: list[dict[str, Any]] = []
    for event in stream:
        events.append(event)
        if len(events) == count:
            watch.stop()
    return events


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def open_watches(kube: FakeKube) -> int:
    return sum(1 for record in kube.requests if record.query.get("watch") == "true")


class Background:
    """Runs a watch in a thread, keeping its events and the exception that ended it."""

    def __init__(self, run: Callable[[list[dict[str, Any]]], None]) -> None:
        self.events: list[dict[str, Any]] = []
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, args=(run,), daemon=True)
        self._thread.start()

    def _main(self, run: Callable[[list[dict[str, Any]]], None]) -> None:
        try:
            run(self.events)
        except BaseException as error:  # handed to the test thread to assert on
            self.error = error

    def join(self) -> None:
        self._thread.join(DEADLINE)
        assert not self._thread.is_alive(), "the watch did not end"


def test_watch_from_a_resource_version_streams_only_newer_changes_in_order(
    kube_cluster: FakeKube, core: CoreV1Api
) -> None:
    since = kube_cluster.resource_version
    kube_cluster.add_pod(kube_cluster.make_pod("shop", "new", "node-a"))
    core.patch_namespaced_pod("new", "shop", {"metadata": {"annotations": {"a": "1"}}})
    kube_cluster.delete_pod("shop", "new")
    watch = Watch()
    stream = watch.stream(
        core.list_namespaced_pod, "shop", resource_version=since, timeout_seconds=int(DEADLINE)
    )
    events = take(stream, watch, 3)
    assert seen(events) == [("ADDED", "new"), ("MODIFIED", "new"), ("DELETED", "new")]
    versions = [int(event["raw_object"]["metadata"]["resourceVersion"]) for event in events]
    assert (
        int(since) < versions[0] < versions[1] < versions[2] == int(kube_cluster.resource_version)
    )
    assert events[1]["object"].metadata.annotations == {"a": "1"}  # the client's own model


def test_watch_without_a_resource_version_starts_with_the_current_pods(
    kube_cluster: FakeKube, core: CoreV1Api
) -> None:
    watch = Watch()
    stream = watch.stream(core.list_pod_for_all_namespaces, timeout_seconds=int(DEADLINE))
    assert sorted(seen(take(stream, watch, 3))) == [("ADDED", n) for n in ("db", "etl", "web")]


def test_watch_in_a_namespace_or_on_a_node_skips_the_others(
    kube_cluster: FakeKube, core: CoreV1Api
) -> None:
    since = kube_cluster.resource_version
    kube_cluster.add_pod(kube_cluster.make_pod("batch", "other-namespace", "node-a"))
    kube_cluster.add_pod(kube_cluster.make_pod("shop", "other-node", "node-b"))
    kube_cluster.add_pod(kube_cluster.make_pod("shop", "wanted", "node-a"))
    watch = Watch()
    stream = watch.stream(
        core.list_namespaced_pod,
        "shop",
        field_selector="spec.nodeName=node-a",
        resource_version=since,
        timeout_seconds=int(DEADLINE),
    )
    assert seen(take(stream, watch, 1)) == [("ADDED", "wanted")]


def test_a_pod_leaving_and_entering_a_label_selection_is_deleted_then_added(
    kube_cluster: FakeKube, core: CoreV1Api
) -> None:
    since = kube_cluster.resource_version
    core.patch_namespaced_pod("web", "shop", {"metadata": {"labels": {"app": "gone"}}})
    core.patch_namespaced_pod("web", "shop", {"metadata": {"labels": {"app": "web"}}})
    watch = Watch()
    stream = watch.stream(
        core.list_pod_for_all_namespaces,
        label_selector="app=web",
        resource_version=since,
        timeout_seconds=int(DEADLINE),
    )
    assert seen(take(stream, watch, 2)) == [("DELETED", "web"), ("ADDED", "web")]


def test_an_open_watch_gets_changes_made_after_it_started(
    kube_cluster: FakeKube, core: CoreV1Api
) -> None:
    since = kube_cluster.resource_version

    def run(events: list[dict[str, Any]]) -> None:
        watch = Watch()
        stream = watch.stream(
            core.list_pod_for_all_namespaces, resource_version=since, timeout_seconds=60
        )
        events.extend(take(stream, watch, 1))

    background = Background(run)
    wait_for(lambda: open_watches(kube_cluster) == 1, "the watch to start")
    new_id = kube_cluster.restart_container("shop", "web", "app")
    background.join()
    assert background.error is None
    assert seen(background.events) == [("MODIFIED", "web")]
    statuses = background.events[0]["raw_object"]["status"]["containerStatuses"]
    assert statuses[0]["containerID"] == new_id


def test_an_idle_watch_ends_at_its_timeout(kube_cluster: FakeKube, core: CoreV1Api) -> None:
    since = kube_cluster.resource_version

    def run(events: list[dict[str, Any]]) -> None:
        stream = Watch().stream(
            core.list_pod_for_all_namespaces, resource_version=since, timeout_seconds=1
        )
        events.extend(stream)

    background = Background(run)
    background.join()
    assert background.error is None
    assert background.events == []


def test_watch_from_a_compacted_resource_version_raises_410_in_the_client(
    kube_cluster: FakeKube, core: CoreV1Api
) -> None:
    since = kube_cluster.resource_version
    kube_cluster.add_pod(kube_cluster.make_pod("shop", "new", "node-a"))
    kube_cluster.compact()
    with pytest.raises(ApiException) as raised:
        list(
            Watch().stream(
                core.list_pod_for_all_namespaces, resource_version=since, timeout_seconds=5
            )
        )
    assert raised.value.status == 410
    assert "Expired" in str(raised.value.reason)


def test_a_watch_without_timeout_retries_once_after_410_then_raises(
    kube_cluster: FakeKube, core: CoreV1Api
) -> None:
    since = kube_cluster.resource_version
    kube_cluster.add_pod(kube_cluster.make_pod("shop", "new", "node-a"))
    kube_cluster.compact()
    with pytest.raises(ApiException) as raised:
        list(Watch().stream(core.list_pod_for_all_namespaces, resource_version=since))
    assert raised.value.status == 410
    assert open_watches(kube_cluster) == 2


def test_a_watch_from_the_compaction_point_gets_later_changes(
    kube_cluster: FakeKube, core: CoreV1Api
) -> None:
    kube_cluster.add_pod(kube_cluster.make_pod("shop", "before", "node-a"))
    since = kube_cluster.compact()
    kube_cluster.add_pod(kube_cluster.make_pod("shop", "after", "node-a"))
    watch = Watch()
    stream = watch.stream(
        core.list_pod_for_all_namespaces, resource_version=since, timeout_seconds=int(DEADLINE)
    )
    assert seen(take(stream, watch, 1)) == [("ADDED", "after")]


def test_changes_beyond_the_history_limit_expire_old_resource_versions() -> None:
    with FakeKube(history_limit=3) as kube, kube.api_client() as api:
        core = CoreV1Api(api)
        since = kube.resource_version
        for index in range(5):
            kube.add_pod(kube.make_pod("shop", f"pod-{index}", "node-a"))
        with pytest.raises(ApiException) as raised:
            list(
                Watch().stream(
                    core.list_pod_for_all_namespaces, resource_version=since, timeout_seconds=5
                )
            )
        assert raised.value.status == 410
        recent = str(int(kube.resource_version) - 2)
        watch = Watch()
        stream = watch.stream(
            core.list_pod_for_all_namespaces, resource_version=recent, timeout_seconds=5
        )
        assert seen(take(stream, watch, 2)) == [("ADDED", "pod-3"), ("ADDED", "pod-4")]


def test_drop_watches_cuts_open_streams_and_new_watches_work(
    kube_cluster: FakeKube, core: CoreV1Api
) -> None:
    since = kube_cluster.resource_version

    def run(events: list[dict[str, Any]]) -> None:
        events.extend(Watch().stream(core.list_pod_for_all_namespaces, resource_version=since))

    background = Background(run)
    wait_for(lambda: open_watches(kube_cluster) == 1, "the watch to start")
    kube_cluster.drop_watches()
    background.join()
    assert isinstance(background.error, urllib3.exceptions.ProtocolError)
    kube_cluster.add_pod(kube_cluster.make_pod("shop", "new", "node-a"))
    watch = Watch()
    stream = watch.stream(
        core.list_pod_for_all_namespaces, resource_version=since, timeout_seconds=int(DEADLINE)
    )
    assert seen(take(stream, watch, 1)) == [("ADDED", "new")]


def test_an_idle_watch_that_allows_bookmarks_gets_one_at_the_current_version(
    kube_cluster: FakeKube, core: CoreV1Api
) -> None:
    kube_cluster.add_node("node-c")  # a change to something else: the bookmark moves past it
    watch = Watch()
    stream = watch.stream(
        core.list_pod_for_all_namespaces,
        resource_version=kube_cluster.resource_version,
        allow_watch_bookmarks=True,
        timeout_seconds=int(DEADLINE),
    )
    [event] = take(stream, watch, 1)
    assert event["type"] == "BOOKMARK"
    assert event["raw_object"]["metadata"]["resourceVersion"] == kube_cluster.resource_version


def test_stopping_the_server_ends_open_watches(kube_cluster: FakeKube, core: CoreV1Api) -> None:
    since = kube_cluster.resource_version

    def run(events: list[dict[str, Any]]) -> None:
        events.extend(Watch().stream(core.list_pod_for_all_namespaces, resource_version=since))

    background = Background(run)
    wait_for(lambda: open_watches(kube_cluster) == 1, "the watch to start")
    kube_cluster.stop()
    background.join()
    assert background.error is not None
