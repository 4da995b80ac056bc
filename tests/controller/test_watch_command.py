"""``iops-controller watch`` says who changed a limit from the field managers the API server
records (managedFields), through the real client against the fake API."""

import threading
from collections.abc import Iterator

import kubernetes
import pytest

from controller.commands.watch import limit_changes
from controller.kubeapi import MERGE_PATCH, KubeApi
from controller.ownership import Held, merge_patch
from controller.pods import PodCache, PodInfo, pod_info
from controller.ratelimit import TokenBucket
from iops_limit.annotations import ContainerLimits
from sandbox.fake_kube import FakeKube

HELD_500 = {"app": Held(ContainerLimits(write_iops=500), "noisy", "writer", 1000.0, 1000.0)}
HELD_300 = {"app": Held(ContainerLimits(write_iops=300), "noisy", "writer", 1000.0, 1000.0)}
Patch = dict[str, str | None]


class Changes:
    """The limit changes the watch reports, in order; ``next()`` waits for the next one."""

    def __init__(self) -> None:
        self._seen: list[dict[str, str]] = []
        self._arrived = threading.Condition()

    def __call__(self, before: PodInfo | None, after: PodInfo | None) -> None:
        with self._arrived:
            self._seen.extend(limit_changes(before, after))
            self._arrived.notify_all()

    def next(self) -> tuple[str, str, str]:
        with self._arrived:
            assert self._arrived.wait_for(lambda: self._seen, timeout=30), "no change seen"
            change = self._seen.pop(0)
        return change["before"], change["after"], change["by"]


@pytest.fixture
def changes(kube_api: FakeKube) -> Iterator[Changes]:
    kube_api.add_pod(kube_api.make_pod("shop", "db", "node-a"))
    seen = Changes()
    cache = PodCache(KubeApi(kube_api.api_client(), TokenBucket(100, 100)), listener=seen)
    cache.start()
    yield seen
    cache.stop()


def current(kube: FakeKube) -> PodInfo:
    return pod_info(kube.get_pod("shop", "db"))


def as_controller(kube: FakeKube, patch: Patch) -> None:
    KubeApi(kube.api_client(), TokenBucket(100, 100)).patch_pod_annotations("shop", "db", patch)


def as_person(kube: FakeKube, patch: Patch) -> None:
    """What ``kubectl annotate`` sends: a merge patch under its own field manager."""
    kubernetes.client.CoreV1Api(kube.api_client()).patch_namespaced_pod(
        "db",
        "shop",
        {"metadata": {"annotations": patch}},
        field_manager="kubectl-annotate",
        _content_type=MERGE_PATCH,
    )


def test_a_person_editing_limit_and_record_alike_is_told_from_the_controller(
    kube_api: FakeKube, changes: Changes
) -> None:
    as_controller(kube_api, merge_patch(current(kube_api), {}, HELD_500))
    assert changes.next() == ("-", "write 500 IOPS", "controller (noisy/writer)")

    # The edit agrees with the controller's record: only managedFields says who wrote it.
    as_person(kube_api, merge_patch(current(kube_api), HELD_500, HELD_300))
    assert changes.next() == ("write 500 IOPS", "write 300 IOPS", "person (kubectl-annotate)")

    as_controller(kube_api, merge_patch(current(kube_api), HELD_500, HELD_500))
    assert changes.next() == ("write 300 IOPS", "write 500 IOPS", "controller (noisy/writer)")

    as_controller(kube_api, merge_patch(current(kube_api), HELD_500, {}))
    assert changes.next() == ("write 500 IOPS", "-", "controller (released)")


def test_a_persons_limit_on_an_unmanaged_pod_names_their_tool(
    kube_api: FakeKube, changes: Changes
) -> None:
    as_person(kube_api, {"iops-limit/write-iops": "900"})
    assert changes.next() == ("-", "write 900 IOPS", "person (kubectl-annotate)")
