"""Lease election against the fake API through the real client, on clocks the test moves."""

import time
from typing import Any

import pytest

from controller.kubeapi import KubeApi
from controller.leader import LeaderElector
from controller.ratelimit import TokenBucket
from sandbox.fake_kube import FakeKube


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def api(kube_api: FakeKube) -> KubeApi:
    return KubeApi(kube_api.api_client(), TokenBucket(100, 100))


def elector(api: KubeApi, identity: str, clock: Clock) -> LeaderElector:
    return LeaderElector(
        api,
        namespace="iops-limit",
        name="iops-controller",
        identity=identity,
        lease_duration=10.0,
        renew_period=2.0,
        clock=clock,
    )


def test_the_first_replica_creates_the_lease_and_leads(api: KubeApi, kube_api: FakeKube) -> None:
    clock = Clock()
    a = elector(api, "a", clock)
    assert a.try_acquire_or_renew()
    assert kube_api.get_lease("iops-limit", "iops-controller")["spec"]["holderIdentity"] == "a"


def test_a_standby_takes_over_only_after_a_whole_unrenewed_lease_duration(api: KubeApi) -> None:
    clock_a, clock_b = Clock(), Clock()
    a, b = elector(api, "a", clock_a), elector(api, "b", clock_b)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()  # b first sees a's record at its t=100
    clock_b.now += 9.9
    assert not b.try_acquire_or_renew()
    clock_b.now += 0.2
    assert b.try_acquire_or_renew()  # a stopped renewing (it crashed): b takes over


def test_the_holder_stops_acting_before_a_standby_can_take_over(api: KubeApi) -> None:
    clock = Clock()
    a = elector(api, "a", clock)
    assert a.try_acquire_or_renew()
    clock.now += 7.9  # lease 10s, margin max(renew 2s, 20%) = 2s
    assert a.is_leader()
    clock.now += 0.2
    assert not a.is_leader()


def test_renewals_keep_the_standby_out(api: KubeApi) -> None:
    clock_a, clock_b = Clock(), Clock()
    a, b = elector(api, "a", clock_a), elector(api, "b", clock_b)
    a.try_acquire_or_renew()
    for _ in range(10):
        clock_a.now += 2
        clock_b.now += 2
        assert a.try_acquire_or_renew()
        assert not b.try_acquire_or_renew()


def test_release_hands_the_lease_over_at_once(api: KubeApi, kube_api: FakeKube) -> None:
    a, b = elector(api, "a", Clock()), elector(api, "b", Clock())
    a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    a.release()
    assert not a.is_leader()
    assert b.try_acquire_or_renew()
    spec = kube_api.get_lease("iops-limit", "iops-controller")["spec"]
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == ("b", 1)


def test_a_refused_renewal_does_not_extend_leadership(api: KubeApi, kube_api: FakeKube) -> None:
    clock = Clock()
    a = elector(api, "a", clock)
    a.try_acquire_or_renew()
    clock.now += 6
    kube_api.fail_next("PUT", r"/leases/iops-controller$", 409)
    assert a.try_acquire_or_renew()  # still inside the window of its last renewal
    clock.now += 2.1
    assert not a.is_leader()


class SurprisingApi(KubeApi):
    """The real API wrapper whose Lease read raises a non-API error the next ``failures``
    times: a malformed answer or a bug, not a failure the code anticipated."""

    def __init__(self, kube: FakeKube, failures: int) -> None:
        super().__init__(kube.api_client(), TokenBucket(100, 100))
        self.failures = failures

    def read_lease(self, namespace: str, name: str) -> Any:
        if self.failures > 0:
            self.failures -= 1
            raise TypeError("unexpected Lease shape")
        return super().read_lease(namespace, name)


def test_an_unexpected_error_loses_the_round_not_the_election(kube_api: FakeKube) -> None:
    clock = Clock()
    api = SurprisingApi(kube_api, failures=1)
    a = elector(api, "a", clock)
    assert not a.try_acquire_or_renew()
    assert a.try_acquire_or_renew()
    clock.now += 2
    api.failures = 1
    assert a.try_acquire_or_renew()  # still inside the window of its last renewal
    clock.now += 6.1
    assert not a.is_leader()  # and it lapses on time, as after any failed renewal


def test_the_election_loop_keeps_running_through_unexpected_errors(kube_api: FakeKube) -> None:
    changes: list[bool] = []
    a = LeaderElector(
        SurprisingApi(kube_api, failures=3),
        namespace="iops-limit",
        name="iops-controller",
        identity="a",
        lease_duration=10.0,
        renew_period=0.05,
        on_change=changes.append,
    )
    a.start()
    try:
        deadline = time.monotonic() + 30
        while not a.is_leader() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert a.is_leader()
        assert changes == [True]
    finally:
        a.stop()
